"""The live scheduler's view of the cluster: a framework ``ClusterSnapshot`` kept in step
with Node and Pod objects, plus the node facts traces don't have (readiness, labels).

A Pod counts against its node from the moment the scheduler decides to bind it ("assumed")
until it reaches a terminal phase or is deleted. After a restart, bound Pods are assumed
again from their recorded GPU assignment (annotation ``dockyard.dev/gpu-assignment``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from dockyard.api.annotations import GPU_ASSIGNMENT as GPU_ASSIGNMENT_ANNOTATION
from dockyard.api.core import POD_TERMINAL_PHASES
from dockyard.api.resources import amounts
from dockyard.scheduler.framework import BoolArray, ClusterSnapshot, CycleState, PodRequest
from dockyard.scheduler.framework._types import DeviceShare
from dockyard.scheduler.requests import node_spec, pod_request

log = logging.getLogger("dockyard.scheduler")
TERMINAL_PHASES = POD_TERMINAL_PHASES
NODE_SELECTOR_KEY = "nodeSelector"


#: Cycle-state key: False for a workload that is not a Pod (it takes no Pod slot).
COUNTS_AS_POD_KEY = "countsAsPod"


@dataclass(frozen=True)
class Assignment:
    node: str
    request: PodRequest
    devices: tuple[DeviceShare, ...]
    #: False for workloads placed through `DefaultScheduler.place` (agent sandboxes): they
    #: use the node's CPU and memory but none of its Pod slots (``pods`` capacity).
    pod: bool = True


def devices_of(pod: dict[str, Any]) -> tuple[DeviceShare, ...]:
    raw = (pod["metadata"].get("annotations") or {}).get(GPU_ASSIGNMENT_ANNOTATION)
    if not raw:
        return ()
    return tuple(
        DeviceShare(int(d["index"]), int(d["milli"]), int(d.get("memoryMib", 0)))
        for d in json.loads(raw)
    )


def encode_devices(devices: tuple[DeviceShare, ...]) -> str:
    return json.dumps(
        [{"index": d.index, "milli": d.milli, "memoryMib": d.memory_mib} for d in devices]
    )


class LiveCluster:
    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.assignments: dict[str, Assignment] = {}
        self.snapshot = ClusterSnapshot.from_nodes([])
        self.ready: BoolArray = np.zeros(0, dtype=bool)
        self.unschedulable: BoolArray = np.zeros(0, dtype=bool)
        self.max_pods = np.zeros(0, dtype=np.int64)
        #: Per node, how many of the snapshot's assumed workloads are not Pods.
        self.non_pods = np.zeros(0, dtype=np.int64)
        self.labels: list[Mapping[str, str]] = []
        self.generation = 0  # bumps when the node set or capacities change

    # -- nodes ------------------------------------------------------------------------
    def upsert_node(self, node: dict[str, Any]) -> None:
        name = node["metadata"]["name"]
        old = self.nodes.get(name)
        self.nodes[name] = node
        if old is None or node_spec(old) != node_spec(node):
            self._rebuild()
        else:
            self._refresh_facts()

    def remove_node(self, name: str) -> None:
        if self.nodes.pop(name, None) is not None:
            self._rebuild()

    def _rebuild(self) -> None:
        names = sorted(self.nodes)
        self.snapshot = ClusterSnapshot.from_nodes([node_spec(self.nodes[n]) for n in names])
        self.non_pods = np.zeros(len(names), dtype=np.int64)
        for assignment in self.assignments.values():
            index = self.snapshot.index.get(assignment.node)
            if index is not None and self._assume_in_snapshot(index, assignment):
                self._count(index, assignment, +1)
        self.generation += 1
        self._refresh_facts()

    def _refresh_facts(self) -> None:
        names = self.snapshot.names
        objs = [self.nodes[n] for n in names]
        self.ready = np.array([_ready(o) for o in objs], dtype=bool)
        self.unschedulable = np.array(
            [bool((o.get("spec") or {}).get("unschedulable")) for o in objs], dtype=bool
        )
        self.max_pods = np.array([_max_pods(o) for o in objs], dtype=np.int64)
        self.labels = [dict(o["metadata"].get("labels") or {}) for o in objs]

    # -- pods -------------------------------------------------------------------------
    def assume(self, uid: str, assignment: Assignment) -> None:
        if uid in self.assignments:
            return
        self.assignments[uid] = assignment
        index = self.snapshot.index.get(assignment.node)
        if index is not None and self._assume_in_snapshot(index, assignment):
            self._count(index, assignment, +1)

    def _count(self, index: int, assignment: Assignment, sign: int) -> None:
        if not assignment.pod:
            self.non_pods[index] += sign

    def _assume_in_snapshot(self, index: int, assignment: Assignment) -> bool:
        try:
            self.snapshot.assume(index, assignment.request, assignment.devices)
            return True
        except ValueError:
            # Over-committed, e.g. after a node shrank: the Pod keeps running; the node
            # simply looks fuller until Pods end.
            log.warning(
                "bound pod %s does not fit its node %s any more",
                assignment.request.name,
                assignment.node,
            )
            return False

    def record(self, uid: str, assignment: Assignment) -> None:
        """Remember an assignment the framework already accounted in the snapshot."""
        self.assignments[uid] = assignment
        index = self.snapshot.index.get(assignment.node)
        if index is not None:
            self._count(index, assignment, +1)

    def release(self, uid: str) -> bool:
        assignment = self.assignments.pop(uid, None)
        if assignment is None:
            return False
        index = self.snapshot.index.get(assignment.node)
        if index is not None:
            self._count(index, assignment, -1)
            try:
                self.snapshot.forget(index, assignment.request, assignment.devices)
            except ValueError:
                self._rebuild()
        return True

    def observe_pod(self, pod: dict[str, Any], deleted: bool) -> bool:
        """Track a bound Pod's usage; True when capacity was freed."""
        uid = pod["metadata"]["uid"]
        phase = (pod.get("status") or {}).get("phase", "Pending")
        if deleted or phase in TERMINAL_PHASES:
            return self.release(uid)
        node = (pod.get("spec") or {}).get("nodeName")
        if node and uid not in self.assignments:
            self.assume(uid, Assignment(node, pod_request(pod), devices_of(pod)))
        return False


def _ready(node: dict[str, Any]) -> bool:
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def _max_pods(node: dict[str, Any]) -> int:
    status = node.get("status") or {}
    return amounts(status.get("allocatable") or status.get("capacity")).get("pods", 1_000_000)


class NodeEligibility:
    """Live-only filter: node readiness, cordoning, the Pod's node selector, pod count.

    The Pod's ``nodeSelector`` reaches the plugin through the cycle state (key
    ``nodeSelector``), since ``PodRequest`` carries only resources.
    """

    name = "NodeEligibility"

    def __init__(self, cluster: LiveCluster) -> None:
        self.cluster = cluster

    def filter(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot
    ) -> Mapping[str, BoolArray]:
        cluster = self.cluster
        try:
            selector: Mapping[str, str] = state.read(NODE_SELECTOR_KEY)
        except KeyError:
            selector = {}
        reasons: dict[str, BoolArray] = {
            "node(s) not ready": ~cluster.ready,
            "node(s) were unschedulable": cluster.unschedulable,
        }
        try:
            counts_as_pod: bool = state.read(COUNTS_AS_POD_KEY)
        except KeyError:
            counts_as_pod = True
        if counts_as_pod:  # Pod slots are for Pods; other workloads take none
            pods = snapshot.pod_counts - cluster.non_pods
            reasons["too many pods"] = pods >= cluster.max_pods
        if selector:
            reasons["node(s) didn't match node selector"] = np.array(
                [any(labels.get(k) != v for k, v in selector.items()) for labels in cluster.labels],
                dtype=bool,
            )
        return reasons
