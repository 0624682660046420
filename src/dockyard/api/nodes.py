"""Raw ``v1/Node`` objects as Dockyard's node sources register them.

Api layer. Both the node agent and the workflow engine's simulated executor publish Nodes
that are Ready from the moment they are written; this builds that object so the two agree
on its shape (capacity mirrored into allocatable, one Ready condition with a heartbeat).
"""

from __future__ import annotations

from typing import Any


def ready_node(
    name: str,
    *,
    labels: dict[str, str],
    capacity: dict[str, str],
    reason: str,
    message: str,
    now: str,
    status_extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Node named ``name`` whose status reports ``capacity`` (also as allocatable) and a
    ``Ready=True`` condition with ``reason``/``message``, stamped ``now`` as both its
    transition and heartbeat time. ``status_extra`` adds further status fields."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {},
        "status": {
            "capacity": dict(capacity),
            "allocatable": dict(capacity),
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": reason,
                    "message": message,
                    "lastTransitionTime": now,
                    "lastHeartbeatTime": now,
                }
            ],
            **(status_extra or {}),
        },
    }
