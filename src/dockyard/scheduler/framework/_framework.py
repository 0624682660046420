"""``Framework``: runs one scheduling cycle of a profile over a snapshot.

``schedule`` is the decide step: pre-filter → filter → (post-filter) → pre-score → score →
normalize → select host → assign devices, returning a frozen ``Decision`` and leaving the
snapshot untouched. ``commit`` is the apply step: it accounts the decision in the snapshot
(``ClusterSnapshot.assume``), then runs reserve → permit → bind, undoing on failure.

Host selection takes the highest weighted score; ties go to the node with the lowest
``snapshot.rank`` (a fixed order, so equal nodes fill up consistently).
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np

from dockyard.scheduler.framework._interfaces import (
    BindPlugin,
    CachedScorePlugin,
    CycleState,
    DevicePlugin,
    FilterPlugin,
    FloatArray,
    NormalizeScorePlugin,
    PermitPlugin,
    PostFilterPlugin,
    PreFilterPlugin,
    PreScorePlugin,
    QueueSortPlugin,
    ReservePlugin,
    ScorePlugin,
)
from dockyard.scheduler.framework._profile import Profile
from dockyard.scheduler.framework._snapshot import ClusterSnapshot, IntArray
from dockyard.scheduler.framework._status import SUCCESS, Code, Status
from dockyard.scheduler.framework._types import Decision, PodRequest


class _ScoreCache:
    """Per-plugin scores kept across cycles, keyed by pod shape, refreshed by node version."""

    def __init__(self) -> None:
        self.epoch = -1
        self.entries: dict[Hashable, tuple[FloatArray, IntArray]] = {}

    def scores(
        self,
        plugin: CachedScorePlugin,
        key: Hashable,
        state: CycleState,
        pod: PodRequest,
        snapshot: ClusterSnapshot,
    ) -> FloatArray:
        if self.epoch != snapshot.epoch:
            self.epoch = snapshot.epoch
            self.entries.clear()
        entry = self.entries.get(key)
        if entry is None:
            entry = (
                np.zeros(len(snapshot), dtype=np.float64),
                np.zeros(len(snapshot), dtype=np.int64),
            )
            self.entries[key] = entry
        values, versions = entry
        dirty = np.flatnonzero(versions != snapshot.version)
        if dirty.size:
            values[dirty] = plugin.score(state, pod, snapshot, dirty)
            versions[dirty] = snapshot.version[dirty]
        return values


class Framework:
    """The phases of one profile, sorted once at construction (see module docstring)."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        plugins = [wp.plugin for wp in profile.plugins]
        self.queue_sort = [p for p in plugins if isinstance(p, QueueSortPlugin)]
        self.pre_filters = [p for p in plugins if isinstance(p, PreFilterPlugin)]
        self.filters = [p for p in plugins if isinstance(p, FilterPlugin)]
        self.post_filters = [p for p in plugins if isinstance(p, PostFilterPlugin)]
        self.pre_scores = [p for p in plugins if isinstance(p, PreScorePlugin)]
        self.scores: list[tuple[ScorePlugin, float]] = [
            (wp.plugin, wp.weight) for wp in profile.plugins if isinstance(wp.plugin, ScorePlugin)
        ]
        self.device = next(p for p in plugins if isinstance(p, DevicePlugin))
        self.reserves = [p for p in plugins if isinstance(p, ReservePlugin)]
        self.permits = [p for p in plugins if isinstance(p, PermitPlugin)]
        self.binders = [p for p in plugins if isinstance(p, BindPlugin)]
        self._caches: dict[str, _ScoreCache] = {
            p.name: _ScoreCache() for p, _ in self.scores if isinstance(p, CachedScorePlugin)
        }

    # -- decide --------------------------------------------------------------------------

    def schedule(
        self, pod: PodRequest, snapshot: ClusterSnapshot, state: CycleState | None = None
    ) -> Decision:
        """Run one cycle for ``pod`` and return the decision; the snapshot is not changed."""
        state = state if state is not None else CycleState()
        total = len(snapshot)
        for pf in self.pre_filters:
            st = pf.pre_filter(state, pod, snapshot)
            if not st.ok:
                return Decision(pod.name, None, status=st, total_nodes=total)
        feasible_mask = np.ones(total, dtype=np.bool_)
        rejections: dict[str, int] = {}
        for f in self.filters:
            for reason, rejected in f.filter(state, pod, snapshot).items():
                newly = rejected & feasible_mask
                count = int(np.count_nonzero(newly))
                if count:
                    rejections[reason] = rejections.get(reason, 0) + count
                    feasible_mask &= ~newly
        feasible = np.flatnonzero(feasible_mask)
        if feasible.size == 0:
            failed = Decision(
                pod.name,
                None,
                status=Status(Code.UNSCHEDULABLE, ("no node fits",)),
                total_nodes=total,
                rejections=rejections,
            )
            for post in self.post_filters:
                st = post.post_filter(state, pod, snapshot, failed)
                if st.code is not Code.UNSCHEDULABLE:
                    return Decision(
                        pod.name, None, status=st, total_nodes=total, rejections=rejections
                    )
            return failed
        if feasible.size == 1:
            node = int(feasible[0])
        else:
            node = self._select(state, pod, snapshot, feasible)
        devices = self.device.assign(state, pod, snapshot, node)
        return Decision(pod.name, snapshot.names[node], node, devices, total_nodes=total)

    def _select(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, feasible: IntArray
    ) -> int:
        for ps in self.pre_scores:
            ps.pre_score(state, pod, snapshot, feasible)
        total: FloatArray | None = None
        for plugin, weight in self.scores:
            s = self._score(plugin, state, pod, snapshot, feasible)
            if isinstance(plugin, NormalizeScorePlugin):
                s = plugin.normalize(state, pod, s)
            total = s * weight if total is None else total + s * weight
        candidates = feasible if total is None else feasible[total == total.max()]
        if candidates.size == 1:
            return int(candidates[0])
        return int(candidates[np.argmin(snapshot.rank[candidates])])

    def _score(
        self,
        plugin: ScorePlugin,
        state: CycleState,
        pod: PodRequest,
        snapshot: ClusterSnapshot,
        feasible: IntArray,
    ) -> FloatArray:
        cache = self._caches.get(plugin.name)
        if cache is not None and isinstance(plugin, CachedScorePlugin):
            key = plugin.cache_key(pod)
            if key is not None:
                return cache.scores(plugin, key, state, pod, snapshot)[feasible]
        return plugin.score(state, pod, snapshot, feasible)

    def sort_key_less(self, a: PodRequest, b: PodRequest) -> bool:
        """Queue order from the profile's queue-sort plugin (FIFO when there is none)."""
        return self.queue_sort[0].less(a, b) if self.queue_sort else False

    # -- apply ---------------------------------------------------------------------------

    def commit(
        self,
        pod: PodRequest,
        snapshot: ClusterSnapshot,
        decision: Decision,
        state: CycleState | None = None,
    ) -> Status:
        """Apply a successful decision: reserve, permit, then bind.

        Returns SUCCESS when bound, WAIT when a permit plugin holds the pod (the caller
        later calls :meth:`bind` or :meth:`unreserve`), or the failing status after undoing
        the reservation.
        """
        if decision.node_index < 0:
            raise ValueError(f"cannot commit unscheduled decision for {decision.pod}")
        state = state if state is not None else CycleState()
        st = self.reserve(pod, snapshot, decision, state)
        if not st.ok:
            return st
        for p in self.permits:
            st = p.permit(state, pod, decision)
            if st.code is Code.WAIT:
                return st
            if not st.ok:
                self.unreserve(pod, snapshot, decision, state)
                return st
        return self.bind(pod, snapshot, decision, state)

    def reserve(
        self, pod: PodRequest, snapshot: ClusterSnapshot, decision: Decision, state: CycleState
    ) -> Status:
        """Account the decision in the snapshot and run reserve plugins (undo on failure)."""
        snapshot.assume(decision.node_index, pod, decision.devices)
        for i, p in enumerate(self.reserves):
            st = p.reserve(state, pod, snapshot, decision)
            if not st.ok:
                for q in reversed(self.reserves[: i + 1]):
                    q.unreserve(state, pod, snapshot, decision)
                snapshot.forget(decision.node_index, pod, decision.devices)
                return st
        return SUCCESS

    def unreserve(
        self, pod: PodRequest, snapshot: ClusterSnapshot, decision: Decision, state: CycleState
    ) -> None:
        """Undo :meth:`reserve` (after a denied permit or a failed bind)."""
        for p in reversed(self.reserves):
            p.unreserve(state, pod, snapshot, decision)
        snapshot.forget(decision.node_index, pod, decision.devices)

    def bind(
        self, pod: PodRequest, snapshot: ClusterSnapshot, decision: Decision, state: CycleState
    ) -> Status:
        """Run binders until one does not SKIP; on failure undo the reservation."""
        for b in self.binders:
            st = b.bind(state, pod, decision)
            if st.code is Code.SKIP:
                continue
            if not st.ok:
                self.unreserve(pod, snapshot, decision, state)
            return st
        return SUCCESS
