"""The scheduler's view of the cluster: nodes, what they can hold and what is bound to them.

Built from Node and Pod objects and kept current from store events, so a scheduling cycle
reads memory instead of the database. A Pod counts against its node from the moment the
scheduler decides to bind it ("assumed") until it reaches a terminal phase or is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dockyard.api.resources import ResourceAmounts, amounts, pod_requests

GPU = "nvidia.com/gpu"
TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
GPU_IDS_ANNOTATION = "dockyard.dev/gpu-ids"


@dataclass
class NodeInfo:
    name: str
    allocatable: ResourceAmounts
    labels: dict[str, str]
    ready: bool
    unschedulable: bool
    gpu_ids: list[int]
    requested: ResourceAmounts = field(default_factory=dict)
    used_gpus: set[int] = field(default_factory=set)
    pod_count: int = 0

    def free(self, resource: str) -> int:
        return self.allocatable.get(resource, 0) - self.requested.get(resource, 0)


@dataclass(frozen=True)
class Assignment:
    node_name: str
    requests: ResourceAmounts
    gpu_ids: tuple[int, ...]


def node_info_from(node: dict[str, Any]) -> NodeInfo:
    status = node.get("status") or {}
    conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
    return NodeInfo(
        name=node["metadata"]["name"],
        allocatable=amounts(status.get("allocatable") or status.get("capacity")),
        labels=dict(node["metadata"].get("labels") or {}),
        ready=conditions.get("Ready") == "True",
        unschedulable=bool((node.get("spec") or {}).get("unschedulable")),
        gpu_ids=[int(g["index"]) for g in status.get("gpus") or []],
    )


def gpu_ids_of(pod: dict[str, Any]) -> tuple[int, ...]:
    raw = (pod["metadata"].get("annotations") or {}).get(GPU_IDS_ANNOTATION, "")
    return tuple(int(x) for x in raw.split(",") if x.strip())


class ClusterCache:
    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        self.assignments: dict[str, Assignment] = {}  # by pod uid

    def upsert_node(self, node: dict[str, Any]) -> None:
        info = node_info_from(node)
        old = self.nodes.get(info.name)
        if old is not None:
            info.requested, info.used_gpus, info.pod_count = (
                old.requested,
                old.used_gpus,
                old.pod_count,
            )
        self.nodes[info.name] = info

    def remove_node(self, name: str) -> None:
        self.nodes.pop(name, None)

    def assume(self, uid: str, assignment: Assignment) -> None:
        if uid in self.assignments:
            return
        self.assignments[uid] = assignment
        node = self.nodes.get(assignment.node_name)
        if node is None:
            return
        for name, value in assignment.requests.items():
            node.requested[name] = node.requested.get(name, 0) + value
        node.used_gpus.update(assignment.gpu_ids)
        node.pod_count += 1

    def release(self, uid: str) -> bool:
        assignment = self.assignments.pop(uid, None)
        if assignment is None:
            return False
        node = self.nodes.get(assignment.node_name)
        if node is not None:
            for name, value in assignment.requests.items():
                node.requested[name] = node.requested.get(name, 0) - value
            node.used_gpus.difference_update(assignment.gpu_ids)
            node.pod_count -= 1
        return True

    def observe_pod(self, pod: dict[str, Any], deleted: bool) -> bool:
        """Track a bound Pod's usage; returns True when capacity was freed."""
        uid = pod["metadata"]["uid"]
        node_name = (pod.get("spec") or {}).get("nodeName")
        phase = (pod.get("status") or {}).get("phase", "Pending")
        if deleted or phase in TERMINAL_PHASES:
            return self.release(uid)
        if node_name:
            self.assume(uid, Assignment(node_name, pod_requests(pod["spec"]), gpu_ids_of(pod)))
        return False
