"""The InferencePool controller: how many of a pool's endpoints can take traffic, in its status.

Serving layer. Level-triggered: each reconcile reads the pool and the Pods its ``selector``
matches, applies the gateway's own endpoint rule
(:func:`dockyard.serving.gateway.discovery.endpoints_of`: Running, with an IP, neither
deleting nor draining) and writes::

    status:
      observedGeneration: <metadata.generation>
      readyEndpoints: 3
      endpointsByRole: {decode: 2, prefill: 1}     # roles with at least one endpoint
      conditions: [{type: Ready, status: "True", reason: EndpointsReady, ...}]

``Ready`` is True while at least one endpoint is ready (reason ``NoReadyEndpoints``
otherwise); its ``lastTransitionTime`` changes only when the status flips. Any Pod event in
the namespace wakes every pool there (pools are few; a Pod's labels may have just stopped
matching a selector). The controller reads the API only; engine health is the gateway's
concern.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from dockyard.api.errors import ApiError, NotFoundError
from dockyard.api.labels import selector_from_match_labels
from dockyard.control import ObjectKey, Result
from dockyard.serving.gateway.discovery import endpoints_of
from dockyard.serving.groups.api import POOL_KIND_KEY
from dockyard.store import ObjectStore, StoreEvent

POD = "v1/Pod"


def pool_status(pool: dict[str, Any], pods: list[dict[str, Any]]) -> dict[str, Any]:
    """The counting part of the status (no timestamps) for ``pool`` over its matched ``pods``."""
    endpoints = endpoints_of(pool, pods)
    return {
        "observedGeneration": pool["metadata"].get("generation"),
        "readyEndpoints": len(endpoints),
        "endpointsByRole": dict(sorted(Counter(endpoints.values()).items())),
    }


class InferencePoolReconciler:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def pools_for_pod(self, event: StoreEvent) -> Iterable[ObjectKey]:
        """Every pool in the Pod's namespace (see the module docstring)."""
        pools, _ = self.store.list(POOL_KIND_KEY, event.namespace)
        return [ObjectKey(POOL_KIND_KEY, event.namespace, p["metadata"]["name"]) for p in pools]

    async def reconcile(self, key: ObjectKey) -> Result | None:
        pool = self.store.try_get(key.kind_key, key.namespace, key.name)
        if pool is None or pool["metadata"].get("deletionTimestamp"):
            return None
        selector = (pool.get("spec") or {}).get("selector") or {}
        pods: list[dict[str, Any]] = []
        if selector:  # an empty selector matches nothing, not everything
            pods, _ = self.store.list(POD, key.namespace, selector_from_match_labels(selector))
        counts = pool_status(pool, pods)
        ready = "True" if counts["readyEndpoints"] else "False"

        def change(obj: dict[str, Any]) -> None:
            status = obj.setdefault("status", {})
            status.update(counts)
            previous = {c.get("type"): c for c in status.get("conditions") or []}.get("Ready", {})
            if previous.get("status") != ready:
                status["conditions"] = [
                    {
                        "type": "Ready",
                        "status": ready,
                        "reason": "EndpointsReady" if ready == "True" else "NoReadyEndpoints",
                        "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    }
                ]

        with contextlib.suppress(NotFoundError, ApiError):
            self.store.mutate(key.kind_key, key.namespace, key.name, change)
        return None
