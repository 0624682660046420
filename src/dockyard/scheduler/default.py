"""The live scheduler: priority queue → the scheduling framework → bind, one Pod at a time.

It watches Pods and Nodes and keeps a :class:`LiveCluster` (a framework snapshot plus node
facts). For each pending Pod whose ``schedulerName`` is Dockyard's it runs one framework
cycle with the default policy (the same plugins ``dockyard sim`` replays traces with, plus
the live-only :class:`NodeEligibility` filter) and commits the decision: reserve → permit →
bind, where binding is the :class:`StoreBinder` plugin writing ``spec.nodeName`` and the
GPU assignment. Pods that fit nowhere get ``PodScheduled=False/Unschedulable`` with the
framework's explanation and are retried when a node changes, every few seconds, and in
line when capacity frees up: a release retries the waiting Pod first in line (priority,
then arrival), and each one that binds retries the next, so a release costs at most one
failed cycle however many Pods wait (a full node with hundreds waiting would otherwise
re-run all of them on every Pod that ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from dockyard.api.annotations import GPU_ASSIGNMENT as GPU_ASSIGNMENT_ANNOTATION
from dockyard.api.annotations import GPU_ENV as GPU_ENV_ANNOTATION
from dockyard.api.annotations import GPU_IDS as GPU_IDS_ANNOTATION
from dockyard.api.conditions import set_condition
from dockyard.api.errors import ApiError
from dockyard.control import Unplaceable
from dockyard.scheduler.cluster import (
    COUNTS_AS_POD_KEY,
    NODE_SELECTOR_KEY,
    TERMINAL_PHASES,
    Assignment,
    LiveCluster,
    NodeEligibility,
    encode_devices,
)
from dockyard.scheduler.framework import (
    SUCCESS,
    CycleState,
    Framework,
    PodRequest,
    Status,
    WeightedPlugin,
    unschedulable,
)
from dockyard.scheduler.framework._types import Decision, device_env
from dockyard.scheduler.plugins import TypicalPods, policy_profile
from dockyard.scheduler.requests import pod_request
from dockyard.store import ObjectStore, StoreEvent, format_time, utc_now

log = logging.getLogger("dockyard.scheduler")
POD = "v1/Pod"
NODE = "v1/Node"
SCHEDULER_NAMES = frozenset({None, "", "default-scheduler", "dockyard"})
POD_STATE_KEY = "pod"
POLICY = "dockyard"
REFRESH_TYPICAL_EVERY = 64


class StoreBinder:
    """Bind plugin: writes the decision into the Pod (``spec.nodeName``, the GPU assignment
    and the environment the node gives the Pod). Fails if another binder got there first.
    Cycles for other workloads (`DefaultScheduler.place`) carry no Pod: their owner
    records the decision."""

    name = "StoreBinder"

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def bind(self, state: CycleState, pod: PodRequest, decision: Decision) -> Status:
        try:
            obj: dict[str, Any] = state.read(POD_STATE_KEY)
        except KeyError:
            return SUCCESS
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        now = format_time(utc_now())

        def write(current: dict[str, Any]) -> None:
            if (
                current["spec"].get("nodeName")
                or current["metadata"]["uid"] != obj["metadata"]["uid"]
            ):
                raise _AlreadyBound()
            assert decision.node is not None
            current["spec"]["nodeName"] = decision.node
            current.setdefault("status", {})["nodeName"] = decision.node
            if decision.devices:
                annotations = current["metadata"].setdefault("annotations", {})
                annotations[GPU_ASSIGNMENT_ANNOTATION] = encode_devices(decision.devices)
                annotations[GPU_IDS_ANNOTATION] = ",".join(str(d.index) for d in decision.devices)
                annotations[GPU_ENV_ANNOTATION] = json.dumps(device_env(decision), sort_keys=True)
            set_condition(current, "PodScheduled", "True", now)

        try:
            self.store.mutate(POD, namespace, name, write)
        except (_AlreadyBound, ApiError) as exc:
            return unschedulable(self.name, f"binding failed: {type(exc).__name__}")
        return SUCCESS


class DefaultScheduler:
    """Runs the scheduling loop inside the control plane's event loop. Also the
    platform's `Placement` for workloads that are not Pods (agent sandboxes): one cycle
    of the same framework, counted in the same `LiveCluster`."""

    def __init__(self, store: ObjectStore, retry_interval: float = 5.0) -> None:
        self.store = store
        self.cluster = LiveCluster()
        self.binder = StoreBinder(store)
        self._fw: Framework | None = None
        self._fw_generation = -1
        self._binds_since_refresh = 0
        self._heap: list[tuple[int, int, str, str]] = []
        self._queued: set[tuple[str, str]] = set()
        # Waiting Pods, by key: (-priority, arrival) orders them; the heap holds the same
        # entries (stale ones are skipped when popped).
        self._unschedulable: dict[tuple[str, str], tuple[int, int]] = {}
        self._waiting: list[tuple[int, int, str, str]] = []
        self._in_line: set[tuple[str, str]] = set()  # retried in line after a release
        self._arrival: dict[tuple[str, str], int] = {}  # when each first had to wait
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
                self.cluster.remove_node(event.name)
            else:
                self.cluster.upsert_node(obj)
            self._requeue_unschedulable()
            return
        freed = self.cluster.observe_pod(obj, deleted=event.type == "DELETED")
        if freed:
            self._requeue_next()
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
        """Retry every waiting Pod (a node changed, or the periodic retry)."""
        waiting, self._unschedulable, self._waiting = self._unschedulable, {}, []
        for namespace, name in sorted(waiting, key=waiting.__getitem__):
            pod = self.store.try_get(POD, namespace, name)
            if pod is not None and self._wants_scheduling(pod):
                self._enqueue(pod)
            else:
                self._arrival.pop((namespace, name), None)

    def _requeue_next(self) -> None:
        """Retry the waiting Pod first in line (capacity was freed, or the one before it
        bound)."""
        while self._waiting:
            _, seq, namespace, name = heapq.heappop(self._waiting)
            key = (namespace, name)
            if self._unschedulable.get(key, (0, -1))[1] != seq:
                continue  # requeued meanwhile
            del self._unschedulable[key]
            pod = self.store.try_get(POD, namespace, name)
            if pod is not None and self._wants_scheduling(pod):
                self._in_line.add(key)
                self._enqueue(pod)
                return
            self._arrival.pop(key, None)

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

    def _framework(self) -> Framework:
        """The framework for the current cluster; rebuilt when nodes change and as the mix of
        Pods (the policy's "typical pods") evolves."""
        if (
            self._fw is None
            or self._fw_generation != self.cluster.generation
            or self._binds_since_refresh >= REFRESH_TYPICAL_EVERY
        ):
            requests = [a.request for a in self.cluster.assignments.values()]
            typical = TypicalPods.from_pods(requests)
            profile = policy_profile(
                POLICY,
                typical,
                np.random.default_rng(0),
                extra_filters=(NodeEligibility(self.cluster),),
            )
            self._fw = Framework(
                replace(profile, plugins=(*profile.plugins, WeightedPlugin(self.binder)))
            )
            self._fw_generation = self.cluster.generation
            self._binds_since_refresh = 0
        return self._fw

    def schedule_one(self, namespace: str, name: str) -> Decision | None:
        in_line = (namespace, name) in self._in_line
        self._in_line.discard((namespace, name))
        decision = self._cycle(namespace, name)
        if decision is None or decision.scheduled:
            self._arrival.pop((namespace, name), None)
            if in_line:
                self._requeue_next()  # it bound or went away: there may be room for the next
        return decision

    def _cycle(self, namespace: str, name: str) -> Decision | None:
        pod = self.store.try_get(POD, namespace, name)
        if pod is None or not self._wants_scheduling(pod):
            return None
        request = pod_request(pod)
        framework = self._framework()
        state = CycleState()
        state.write(NODE_SELECTOR_KEY, dict(pod["spec"].get("nodeSelector") or {}))
        state.write(POD_STATE_KEY, pod)
        decision = framework.schedule(request, self.cluster.snapshot, state)
        if not decision.scheduled:
            self._mark_unschedulable(pod, decision.explain())
            return decision
        status = framework.commit(request, self.cluster.snapshot, decision, state)
        if status.ok:
            assert decision.node is not None
            self.cluster.record(
                pod["metadata"]["uid"], Assignment(decision.node, request, decision.devices)
            )
            self.scheduled_count += 1
            self._binds_since_refresh += 1
        return decision

    # -- placement of other workloads (dockyard.control.Placement) ---------------------
    def place(
        self, key: str, cpu_milli: int, memory_mib: int, node_selector: Mapping[str, str]
    ) -> str:
        """One framework cycle for a workload that is not a Pod; its requests count
        against the chosen node until `release(key)`. Raises Unplaceable with the
        framework's explanation."""
        if key in self.cluster.assignments:
            return self.cluster.assignments[key].node
        request = PodRequest(name=key, cpu_milli=cpu_milli, memory_mib=memory_mib)
        framework = self._framework()
        state = CycleState()
        state.write(NODE_SELECTOR_KEY, dict(node_selector))
        state.write(COUNTS_AS_POD_KEY, False)
        decision = framework.schedule(request, self.cluster.snapshot, state)
        if not decision.scheduled:
            raise Unplaceable(decision.explain())
        status = framework.commit(request, self.cluster.snapshot, decision, state)
        if not status.ok or decision.node is None:
            raise Unplaceable(status.message() or "placement could not be committed")
        self.cluster.record(key, Assignment(decision.node, request, decision.devices, pod=False))
        return decision.node

    def assume(self, key: str, node: str, cpu_milli: int, memory_mib: int) -> None:
        request = PodRequest(name=key, cpu_milli=cpu_milli, memory_mib=memory_mib)
        self.cluster.assume(key, Assignment(node, request, (), pod=False))

    def release(self, key: str) -> None:
        """Give a workload's capacity back; like a Pod that ends, this retries the waiting
        Pod first in line."""
        if self.cluster.release(key):
            self._requeue_next()

    def _mark_unschedulable(self, pod: dict[str, Any], message: str) -> None:
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        # A Pod retried in vain keeps its place in line.
        arrival = self._arrival.setdefault((namespace, name), next(self._seq))
        order = (-int(pod["spec"].get("priority") or 0), arrival)
        self._unschedulable[(namespace, name)] = order
        heapq.heappush(self._waiting, (*order, namespace, name))
        now = format_time(utc_now())

        def mark(obj: dict[str, Any]) -> None:
            set_condition(obj, "PodScheduled", "False", now, "Unschedulable", message)

        with contextlib.suppress(ApiError):
            self.store.mutate(POD, namespace, name, mark)


class _AlreadyBound(Exception):
    pass
