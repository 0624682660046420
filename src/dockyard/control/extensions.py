"""How feature areas plug into the control plane without importing the server.

A feature package (workflows, serving, sandbox, sim) exposes an object satisfying
:class:`Extension`; the server lists those packages and calls ``install`` on each with the
running control plane, which satisfies :class:`Platform`. Through it an extension adds its
controllers, admission hooks, HTTP routers and start/stop hooks::

    class WorkflowsExtension:
        name = "workflows"

        def install(self, platform: Platform) -> None:
            platform.manager.add(Controller(...))
            platform.add_admission("argoproj.io/v1alpha1/Workflow", check_workflow)
            platform.add_router(build_argo_router(platform))
            platform.on_start(start_background_tasks)

    extension = WorkflowsExtension()
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from dockyard.control.placement import Placement
from dockyard.control.runtime import Manager
from dockyard.store import ObjectStore

AdmissionHook = Callable[[Any, dict[str, Any], dict[str, Any] | None], None]
"""``hook(kind_info, object, old_object_or_None)``; raises InvalidError to reject."""


class Platform(Protocol):
    """What an extension may use of the running control plane."""

    @property
    def store(self) -> ObjectStore: ...

    @property
    def manager(self) -> Manager: ...

    @property
    def data_dir(self) -> Path: ...

    @property
    def placement(self) -> Placement:
        """The platform's scheduler, for workloads that are not Pods (see `Placement`)."""
        ...

    @property
    def auth_enabled(self) -> bool:
        """False when the server runs with ``--no-auth`` (loopback only)."""
        ...

    def add_router(self, router: Any) -> None:
        """Mount a FastAPI ``APIRouter`` on the server (behind the same auth)."""

    def authenticate_own_paths(self, prefixes: Iterable[str]) -> None:
        """Exempt requests under `prefixes` (a prefix matches itself and paths below it)
        from the bearer-token check: the extension's routers authenticate them, e.g. with
        API keys of their own protocol."""

    def add_admission(self, kind_key: str, hook: AdmissionHook) -> None:
        """Run ``hook`` on every create/update of ``kind_key`` after model validation."""

    def on_start(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Await ``hook`` once the store, scheduler and node agent are running."""

    def on_stop(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Await ``hook`` when the control plane shuts down (before Pods are stopped)."""


class Extension(Protocol):
    name: str

    def install(self, platform: Platform) -> None: ...
