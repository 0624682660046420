"""The embedded control plane: store, controller manager, scheduler and node agent in one
process, one event loop.

Feature packages plug in as extensions (see :mod:`dockyard.control.extensions`): each
module named in ``EXTENSION_MODULES`` exposes ``extension``, whose ``install(cp)`` runs when
the control plane is built; ``cp`` satisfies the ``Platform`` protocol.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from dockyard.api.errors import AlreadyExistsError
from dockyard.control import AdmissionHook, Extension, Manager
from dockyard.node.agent import NodeAgent
from dockyard.node.registration import node_configs
from dockyard.scheduler.default import DefaultScheduler
from dockyard.server.admission import Admission
from dockyard.server.auth import TokenAuthenticator, load_or_create_token
from dockyard.server.config import ControlPlaneConfig
from dockyard.server.logs import PodLogs
from dockyard.store import ObjectStore

log = logging.getLogger("dockyard.server")
DEFAULT_NAMESPACES = ("default", "dockyard-system")
# Feature areas installed into every control plane, in order.
EXTENSION_MODULES: tuple[str, ...] = (
    "dockyard.workflows",
    "dockyard.sandbox",
    "dockyard.serving.extension",
)


class ControlPlane:
    def __init__(self, config: ControlPlaneConfig) -> None:
        config.validate()
        self.config = config
        self.data_dir = Path(config.data_dir).expanduser().resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o711)  # sandboxes (uid 65534) may traverse into pods/
        self.store = ObjectStore(self.data_dir / "state.db", synchronous=config.sync_mode)
        self.token = load_or_create_token(self.data_dir)
        self.auth = TokenAuthenticator([self.token], enabled=not config.no_auth)
        self.admission = Admission()
        self.manager = Manager(self.store)
        self.scheduler = DefaultScheduler(self.store)
        self.agent = NodeAgent(
            self.store,
            self.data_dir,
            node_configs(config.virtual_nodes, config.virtual_gpus, config.node_name),
        )
        self.logs = PodLogs(self)
        self.routers: list[APIRouter] = []
        # Path prefixes whose routers do their own authentication (see Platform).
        self.self_authenticated: list[str] = []
        self.ready = False
        self._start_hooks: list[Callable[[], Awaitable[None]]] = []
        self._stop_hooks: list[Callable[[], Awaitable[None]]] = []
        for module in EXTENSION_MODULES:
            extension: Extension = importlib.import_module(module).extension
            extension.install(self)
            log.info("extension installed", extra={"extension": extension.name})

    # -- the Platform protocol for extensions -----------------------------------------
    def add_router(self, router: Any) -> None:
        self.routers.append(router)

    @property
    def auth_enabled(self) -> bool:
        return self.auth.enabled

    @property
    def placement(self) -> DefaultScheduler:
        return self.scheduler

    def authenticate_own_paths(self, prefixes: Iterable[str]) -> None:
        self.self_authenticated.extend(p.rstrip("/") for p in prefixes)

    def authenticates_itself(self, path: str) -> bool:
        """True for paths an extension authenticates (see `authenticate_own_paths`)."""
        return any(path == p or path.startswith(p + "/") for p in self.self_authenticated)

    def add_admission(self, kind_key: str, hook: AdmissionHook) -> None:
        self.admission.register(kind_key, hook)

    def on_start(self, hook: Callable[[], Awaitable[None]]) -> None:
        self._start_hooks.append(hook)

    def on_stop(self, hook: Callable[[], Awaitable[None]]) -> None:
        self._stop_hooks.append(hook)

    def ensure_namespaces(self) -> None:
        for name in DEFAULT_NAMESPACES:
            with contextlib.suppress(AlreadyExistsError):
                self.store.create(
                    "v1/Namespace",
                    {
                        "apiVersion": "v1",
                        "kind": "Namespace",
                        "metadata": {"name": name},
                        "spec": {},
                        "status": {"phase": "Active"},
                    },
                )

    async def start(self) -> None:
        self.ensure_namespaces()
        await self.agent.start(self.manager)
        await self.scheduler.start()
        await self.manager.start()
        for hook in self._start_hooks:
            await hook()
        self.ready = True
        log.info("control plane ready", extra={"data_dir": str(self.data_dir)})

    async def stop(self) -> None:
        self.ready = False
        for hook in reversed(self._stop_hooks):
            await hook()
        await self.manager.stop()
        await self.scheduler.stop()
        await self.agent.stop()
        self.store.close()
        log.info("control plane stopped")
