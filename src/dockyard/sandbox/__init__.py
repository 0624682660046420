"""Agent sandboxes: an isolated runtime for untrusted code, warm pools, pause and hibernate
with state, and an E2B-compatible API that the unmodified E2B SDKs drive.

Feature area. `extension` installs into the control plane:

- the kinds Sandbox, SandboxTemplate, SandboxWarmPool and SandboxClaim
  (``agents.x-k8s.io/v1alpha1``) and the SandboxClaim controller;
- `SandboxService` (one per control plane): sandbox life cycle, warm pools, timeouts,
  adoption of running and paused sandboxes after a restart; cold starts and pool refills
  are placed on a node by the platform's scheduler (`Platform.placement`, the same
  framework and plugins as Pods; a claim from a warm pool is placed already); new
  sandboxes are forked from the node's nursery (`runtime.Nursery`) when it runs, else
  started with bubblewrap;
- the E2B control-plane API (``/sandboxes``, ``/v2/sandboxes``, ``/snapshots``,
  ``/volumes``; ``X-API-Key`` per tenant), data plane (envd's Connect services,
  ``/files``, ``/health``, the code interpreter's ``/execute`` and ``/contexts``;
  per-sandbox access tokens) and volume content API (``/volumecontent``; per-volume
  bearer tokens), all on the Dockyard server's own port and outside its bearer-token
  check.

Point E2B SDKs at a Dockyard server with ``E2B_API_URL`` and ``E2B_SANDBOX_URL`` set to its
address and ``E2B_API_KEY`` to a key from ``dockyard sandbox issue-key``.
"""

from __future__ import annotations

from dockyard.control import Controller, Platform
from dockyard.sandbox._claims import ClaimReconciler
from dockyard.sandbox._e2b_control import CONTROL_PREFIXES, build_control_router
from dockyard.sandbox._e2b_data import DATA_PREFIXES, build_data_router
from dockyard.sandbox._e2b_volume_content import (
    VOLUME_CONTENT_PREFIXES,
    build_volume_content_router,
)
from dockyard.sandbox._keys import ApiKeys, issue_key
from dockyard.sandbox._kinds import (
    Sandbox,
    SandboxClaim,
    SandboxTemplate,
    SandboxWarmPool,
)
from dockyard.sandbox._service import (
    Record,
    SandboxConflict,
    SandboxQuotaExceeded,
    SandboxService,
    SandboxUnavailable,
    SandboxUnschedulable,
)


class SandboxExtension:
    name = "sandbox"

    def __init__(self) -> None:
        self.service: SandboxService | None = None

    def install(self, platform: Platform) -> None:
        service = SandboxService(platform.store, platform.data_dir, placement=platform.placement)
        self.service = service
        keys = ApiKeys(platform.data_dir, enforce=platform.auth_enabled)
        platform.add_router(build_control_router(service, keys))
        platform.add_router(build_data_router(service))
        platform.add_router(build_volume_content_router(service.volumes.content_root))
        platform.authenticate_own_paths(
            (*CONTROL_PREFIXES, *DATA_PREFIXES, *VOLUME_CONTENT_PREFIXES)
        )
        platform.manager.add(
            Controller(
                name="sandbox-claims",
                reconciler=ClaimReconciler(platform.store, service),
                for_kind="agents.x-k8s.io/v1alpha1/SandboxClaim",
            )
        )
        platform.on_start(service.start)
        platform.on_stop(service.stop)


extension = SandboxExtension()

__all__ = [
    "ApiKeys",
    "Record",
    "Sandbox",
    "SandboxClaim",
    "SandboxConflict",
    "SandboxExtension",
    "SandboxQuotaExceeded",
    "SandboxService",
    "SandboxTemplate",
    "SandboxUnavailable",
    "SandboxUnschedulable",
    "SandboxWarmPool",
    "extension",
    "issue_key",
]
