"""The SandboxClaim controller: a claim becomes a running sandbox (from the template's warm
pool when one is ready), recorded in the claim's status; deleting the claim kills it.

Sandbox feature. Claims are owned by the namespace they live in: the sandbox's tenant is
``ns-<namespace>``, so claims and E2B keys never see each other's sandboxes.
"""

from __future__ import annotations

import contextlib

from dockyard.api.errors import NotFoundError
from dockyard.control import ObjectKey, Result
from dockyard.sandbox._kinds import CLAIM
from dockyard.sandbox._service import SandboxService, SandboxUnavailable, SandboxUnschedulable
from dockyard.store import ObjectStore

CLAIM_METADATA = "dockyard.dev/claim"
#: A claim no node can take now is tried again after this long.
RETRY_SECONDS = 5.0


def claim_tenant(namespace: str) -> str:
    return f"ns-{namespace}"


class ClaimReconciler:
    def __init__(self, store: ObjectStore, service: SandboxService) -> None:
        self.store = store
        self.service = service

    async def reconcile(self, key: ObjectKey) -> Result | None:
        claim = self.store.try_get(CLAIM, key.namespace, key.name)
        tenant = claim_tenant(key.namespace)
        ref = f"{key.namespace}/{key.name}"
        if claim is None:
            for record in self.service.list(tenant):
                if record.metadata.get(CLAIM_METADATA) == ref:
                    with contextlib.suppress(NotFoundError):
                        await self.service.kill(tenant, record.sandbox_id)
            return None
        status = claim.get("status") or {}
        if status.get("sandbox"):
            return None
        spec = claim.get("spec") or {}
        try:
            record = await self.service.create(
                tenant,
                spec["templateRef"]["name"],
                timeout_seconds=spec.get("timeoutSeconds"),
                metadata={CLAIM_METADATA: ref},
            )
            claim["status"] = {"sandbox": record.sandbox_id, "phase": "Bound"}
        except SandboxUnschedulable as exc:
            retry = Result(requeue_after=RETRY_SECONDS)
            if status == {"phase": "Pending", "message": str(exc)}:
                return retry
            claim["status"] = {"phase": "Pending", "message": str(exc)}
            claim["metadata"].pop("resourceVersion", None)
            self.store.update(CLAIM, claim)
            return retry
        except (NotFoundError, SandboxUnavailable) as exc:
            claim["status"] = {"phase": "Failed", "message": str(exc)}
        claim["metadata"].pop("resourceVersion", None)
        self.store.update(CLAIM, claim)
        return None
