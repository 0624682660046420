"""The embedded control plane: store, controller manager, scheduler and node agent in one
process, one event loop.

Feature packages plug in before :meth:`ControlPlane.start`::

    cp = ControlPlane(config)
    cp.manager.add(Controller(...))          # their controllers
    cp.admission.register("argoproj.io/v1alpha1/Workflow", hook)
    cp.routers.append(router)                # their HTTP endpoints
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from fastapi import APIRouter

from dockyard.api.errors import AlreadyExistsError
from dockyard.control import Manager
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
        self.ready = False

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
        self.ready = True
        log.info("control plane ready", extra={"data_dir": str(self.data_dir)})

    async def stop(self) -> None:
        self.ready = False
        await self.manager.stop()
        await self.scheduler.stop()
        await self.agent.stop()
        self.store.close()
        log.info("control plane stopped")
