"""The default scheduler: priority queue → filter → score → bind, one Pod at a time.

It watches Pods and Nodes, keeps a :class:`ClusterCache`, and for each pending Pod whose
``schedulerName`` is Dockyard's computes a decision from the cache (:func:`decide`, pure)
and then applies it (:meth:`DefaultScheduler.apply`, one store write). Pods that fit
nowhere get ``PodScheduled=False/Unschedulable`` with a kubectl-style reason summary and
are retried when capacity frees up or a node changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from dockyard.api.conditions import set_condition
from dockyard.api.errors import ApiError
from dockyard.api.resources import pod_requests
from dockyard.scheduler.cache import (
    GPU,
    GPU_IDS_ANNOTATION,
    TERMINAL_PHASES,
    Assignment,
    ClusterCache,
    NodeInfo,
)
from dockyard.store import ObjectStore, StoreEvent, format_time, utc_now

log = logging.getLogger("dockyard.scheduler")
POD = "v1/Pod"
NODE = "v1/Node"
SCHEDULER_NAMES = frozenset({None, "", "default-scheduler", "dockyard"})


@dataclass(frozen=True)
class Binding:
    node_name: str
    gpu_ids: tuple[int, ...]


@dataclass(frozen=True)
class Unschedulable:
    message: str


def _filter(node: NodeInfo, pod: dict[str, Any], requests: dict[str, int]) -> str | None:
    """Why ``pod`` cannot go to ``node`` (a short reason), or None when it fits."""
    if not node.ready:
        return "node not ready"
    if node.unschedulable:
        return "node unschedulable"
    selector = (pod.get("spec") or {}).get("nodeSelector") or {}
    if any(node.labels.get(k) != v for k, v in selector.items()):
        return "didn't match node selector"
    if node.pod_count + 1 > node.allocatable.get("pods", 10**9):
        return "too many pods"
    for name, value in requests.items():
        if value <= 0:
            continue
        if name == GPU:
            if len(set(node.gpu_ids) - node.used_gpus) < value:
                return "insufficient nvidia.com/gpu"
        elif node.free(name) < value:
            return f"insufficient {name}"
    return None


def _score(node: NodeInfo, requests: dict[str, int]) -> float:
    """Least-allocated: prefer the node with the most CPU and memory left after binding."""
    score = 0.0
    for name in ("cpu", "memory"):
        capacity = node.allocatable.get(name, 0)
        if capacity > 0:
            score += (capacity - node.requested.get(name, 0) - requests.get(name, 0)) / capacity
    return score


def decide(pod: dict[str, Any], nodes: dict[str, NodeInfo]) -> Binding | Unschedulable:
    """Pick a node (and GPU devices) for ``pod``. Pure: reads only its arguments."""
    requests = pod_requests(pod["spec"])
    reasons: Counter[str] = Counter()
    best: tuple[float, str] | None = None
    for node in nodes.values():
        reason = _filter(node, pod, requests)
        if reason is not None:
            reasons[reason] += 1
            continue
        candidate = (_score(node, requests), node.name)
        if (
            best is None
            or candidate[0] > best[0]
            or (candidate[0] == best[0] and candidate[1] < best[1])
        ):
            best = candidate
    if best is None:
        summary = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
        return Unschedulable(
            f"0/{len(nodes)} nodes are available: {summary or 'no nodes registered'}."
        )
    chosen = nodes[best[1]]
    wanted = requests.get(GPU, 0)
    free = sorted(set(chosen.gpu_ids) - chosen.used_gpus)
    return Binding(chosen.name, tuple(free[:wanted]))


class DefaultScheduler:
    """Runs the scheduling loop inside the control plane's event loop."""

    def __init__(self, store: ObjectStore, retry_interval: float = 5.0) -> None:
        self.store = store
        self.cache = ClusterCache()
        self._heap: list[tuple[int, int, str, str]] = []
        self._queued: set[tuple[str, str]] = set()
        self._unschedulable: set[tuple[str, str]] = set()
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._retry_interval = retry_interval
        self.scheduled_count = 0

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._watch(NODE), name="scheduler:nodes"),
            asyncio.create_task(self._watch(POD), name="scheduler:pods"),
            asyncio.create_task(self._loop(), name="scheduler:loop"),
            asyncio.create_task(self._retry_unschedulable(), name="scheduler:retry"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- event intake ------------------------------------------------------------------
    async def _watch(self, kind_key: str) -> None:
        while True:
            watch = self.store.watch(kind_key)
            try:
                async for event in watch:
                    if event.type == "ERROR":
                        break
                    self._on_event(event)
            finally:
                watch.close()

    def _on_event(self, event: StoreEvent) -> None:
        obj = event.object
        if event.kind_key == NODE:
            if event.type == "DELETED":
                self.cache.remove_node(event.name)
            else:
                self.cache.upsert_node(obj)
            self._requeue_unschedulable()
            return
        freed = self.cache.observe_pod(obj, deleted=event.type == "DELETED")
        if freed:
            self._requeue_unschedulable()
        if event.type != "DELETED" and self._wants_scheduling(obj):
            self._enqueue(obj)

    @staticmethod
    def _wants_scheduling(pod: dict[str, Any]) -> bool:
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        return (
            not spec.get("nodeName")
            and spec.get("schedulerName") in SCHEDULER_NAMES
            and status.get("phase", "Pending") not in TERMINAL_PHASES
            and not pod["metadata"].get("deletionTimestamp")
        )

    def _enqueue(self, pod: dict[str, Any]) -> None:
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        if key in self._queued or key in self._unschedulable:
            return
        self._queued.add(key)
        priority = int((pod.get("spec") or {}).get("priority") or 0)
        heapq.heappush(self._heap, (-priority, next(self._seq), *key))
        self._wakeup.set()

    def _requeue_unschedulable(self) -> None:
        waiting, self._unschedulable = self._unschedulable, set()
        for namespace, name in waiting:
            pod = self.store.try_get(POD, namespace, name)
            if pod is not None and self._wants_scheduling(pod):
                self._enqueue(pod)

    async def _retry_unschedulable(self) -> None:
        while True:
            await asyncio.sleep(self._retry_interval)
            if self._unschedulable:
                self._requeue_unschedulable()

    # -- the cycle ---------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            while not self._heap:
                self._wakeup.clear()
                await self._wakeup.wait()
            _, _, namespace, name = heapq.heappop(self._heap)
            self._queued.discard((namespace, name))
            try:
                self.schedule_one(namespace, name)
            except Exception:
                log.exception("scheduling pod %s/%s failed", namespace, name)
            await asyncio.sleep(0)

    def schedule_one(self, namespace: str, name: str) -> Binding | Unschedulable | None:
        pod = self.store.try_get(POD, namespace, name)
        if pod is None or not self._wants_scheduling(pod):
            return None
        decision = decide(pod, self.cache.nodes)
        self.apply(pod, decision)
        return decision

    def apply(self, pod: dict[str, Any], decision: Binding | Unschedulable) -> None:
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        now = format_time(utc_now())
        if isinstance(decision, Unschedulable):
            self._unschedulable.add((namespace, name))

            def mark(obj: dict[str, Any]) -> None:
                set_condition(obj, "PodScheduled", "False", now, "Unschedulable", decision.message)

            with contextlib.suppress(ApiError):
                self.store.mutate(POD, namespace, name, mark)
            return

        def bind(obj: dict[str, Any]) -> None:
            if obj["spec"].get("nodeName"):
                raise _AlreadyBound()
            obj["spec"]["nodeName"] = decision.node_name
            obj.setdefault("status", {})["nodeName"] = decision.node_name
            if decision.gpu_ids:
                annotations = obj["metadata"].setdefault("annotations", {})
                annotations[GPU_IDS_ANNOTATION] = ",".join(str(i) for i in decision.gpu_ids)
            set_condition(obj, "PodScheduled", "True", now)

        try:
            bound = self.store.mutate(POD, namespace, name, bind)
        except (_AlreadyBound, ApiError):
            return
        self.cache.assume(
            bound["metadata"]["uid"],
            Assignment(decision.node_name, pod_requests(bound["spec"]), decision.gpu_ids),
        )
        self.scheduled_count += 1


class _AlreadyBound(Exception):
    pass
