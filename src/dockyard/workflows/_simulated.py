"""The simulated step executor: measures the workflow engine without running steps.

Workflows layer. With ``executor: simulated`` in ``workflow-controller.yaml`` every step
is still created as a Dockyard Pod by the real controller, queued and bound by the real
scheduler, and read back by the real operator; only the process is left out:

* the workflows extension registers one Node, :data:`SIM_NODE` (labelled
  :data:`SIM_LABEL`), with room for a million Pods, and every step Pod gets a
  ``nodeSelector`` for it, so the scheduler binds it there (the node agent leaves Pods on
  Nodes it does not serve alone);
* :class:`SimulatedStepRunner` finishes each Pod bound to that Node in one store write:
  ``Succeeded``, main container terminated with exit code 0, empty stdout and no output
  files (an output parameter without a ``default`` therefore errors, as it would for a
  step that never wrote its file).

It exists to measure controller, store and scheduler overhead at scale
(``bench/workflow_scale.py``) and to test admission at scale quickly.
"""

from __future__ import annotations

import contextlib
from typing import Any

from dockyard.api.errors import AlreadyExistsError, ApiError
from dockyard.api.nodes import ready_node
from dockyard.control import ObjectKey, Result
from dockyard.store import ObjectStore, StoreEvent, format_time, utc_now

POD = "v1/Pod"
NODE = "v1/Node"
SIM_NODE = "workflow-simulator"
SIM_LABEL = "workflows.dockyard.io/simulated"
EXECUTORS = ("pods", "simulated")
_TERMINAL = ("Succeeded", "Failed")


def simulated_node(now: str) -> dict[str, Any]:
    """The Node that simulated steps are bound to: always Ready, effectively unlimited."""
    return ready_node(
        SIM_NODE,
        labels={"kubernetes.io/hostname": SIM_NODE, SIM_LABEL: "true"},
        capacity={"cpu": "100000", "memory": "1Pi", "pods": "1000000"},
        reason="SimulatedExecutor",
        message="workflow steps bound here finish at once with exit code 0",
        now=now,
    )


def register_simulated_node(store: ObjectStore) -> None:
    """Create (or refresh) the simulated Node."""
    wanted = simulated_node(format_time(utc_now()))
    try:
        store.create(NODE, wanted)
    except AlreadyExistsError:

        def refresh(node: dict[str, Any]) -> None:
            node["metadata"]["labels"] = wanted["metadata"]["labels"]
            node["status"] = wanted["status"]

        store.mutate(NODE, "", SIM_NODE, refresh)


def route_to_simulator(pod: dict[str, Any]) -> dict[str, Any]:
    """``pod`` with a ``nodeSelector`` that only the simulated Node matches (Ray steps are
    left alone: their scheduler is Ray's)."""
    spec = pod["spec"]
    if spec.get("schedulerName"):
        return pod
    return {**pod, "spec": {**spec, "nodeSelector": {SIM_LABEL: "true"}}}


class SimulatedStepRunner:
    """Finishes every Pod bound to :data:`SIM_NODE`: Succeeded, exit code 0."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    @staticmethod
    def is_simulated_pod(event: StoreEvent) -> bool:
        obj = event.object
        return (
            event.type != "DELETED"
            and (obj.get("spec") or {}).get("nodeName") == SIM_NODE
            and (obj.get("status") or {}).get("phase") not in _TERMINAL
        )

    async def reconcile(self, key: ObjectKey) -> Result | None:
        now = format_time(utc_now())

        def finish(pod: dict[str, Any]) -> None:
            status = pod.setdefault("status", {})
            if pod["spec"].get("nodeName") != SIM_NODE or status.get("phase") in _TERMINAL:
                return
            status["phase"] = "Succeeded"
            status.setdefault("startTime", now)
            status["containerStatuses"] = [
                {
                    "name": container["name"],
                    "ready": False,
                    "restartCount": 0,
                    "image": container.get("image", ""),
                    "state": {
                        "terminated": {
                            "exitCode": 0,
                            "reason": "Completed",
                            "startedAt": now,
                            "finishedAt": now,
                        }
                    },
                }
                for container in pod["spec"].get("containers") or []
            ]

        with contextlib.suppress(ApiError):
            self.store.mutate(POD, key.namespace, key.name, finish)
        return None
