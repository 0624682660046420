"""Dockyard's default placement policy (experimental variants while tuning)."""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np

from dockyard.scheduler.framework import (
    ClusterSnapshot,
    CycleState,
    DeviceShare,
    FloatArray,
    IntArray,
    Plugin,
    PodRequest,
)
from dockyard.scheduler.plugins._devices import best_fit_devices, eligible, shares
from dockyard.scheduler.plugins.fgd import FragModels, placed_state, share_candidates
from dockyard.scheduler.plugins.frag import TypicalPods


class FragPackScore:
    """Experimental: quantised fragmentation delta plus a packing tie-break."""

    name = "FragPack"

    def __init__(self, typical: TypicalPods, temp: float = 1000.0, tie: str = "none",
                 devsel: str = "first", quant: str = "sigmoid", reweight: str = "",
                 whole: str = "fgd", cpu: str = "fgd", cpu_tie: str = "none") -> None:
        self.cpu_tie = cpu_tie
        self.whole = whole
        self.cpu = cpu
        if reweight == "gpu":
            w = [p * (s[1] * s[2] if s[1] else 1000.0) for s, p in zip(typical.shapes, typical.probs)]
            typical = TypicalPods(typical.shapes, tuple(x / sum(w) for x in w))
        elif reweight == "nocpu":
            keep = [(s, p) for s, p in zip(typical.shapes, typical.probs) if s[1]]
            tot = sum(p for _, p in keep)
            typical = TypicalPods(tuple(s for s, _ in keep), tuple(p / tot for _, p in keep))
        self.models = FragModels(typical)
        self.temp = temp
        self.tie = tie
        self.devsel = devsel
        self.quant = quant

    def cache_key(self, pod: PodRequest) -> Hashable:
        return pod.shape

    def _q(self, delta: FloatArray) -> FloatArray:
        if self.quant == "sigmoid":
            return np.trunc(100.0 / (1.0 + np.exp(-delta / self.temp)))
        if self.quant == "linear":
            return np.floor(delta / self.temp)
        return delta

    def _tie(self, pod: PodRequest, snapshot: ClusterSnapshot, nodes: IntArray,
             after_free: FloatArray) -> FloatArray:
        if self.tie == "none":
            return np.zeros(nodes.size)
        if self.tie == "pack":  # less free GPU after placement is better
            return 0.5 * (1.0 - after_free / 8000.0)
        if self.tie == "bestfit":
            c = (snapshot.cpu_free[nodes] - pod.cpu_milli) / 128000.0
            return 0.5 * (1.0 - 0.5 * c - 0.5 * after_free / 8000.0)
        raise ValueError(self.tie)

    def device_scores(self, pod: PodRequest, snapshot: ClusterSnapshot,
                      nodes: IntArray) -> FloatArray:
        model = self.models.for_snapshot(snapshot)
        before = model.frag(snapshot.cpu_free[nodes], snapshot.gpu_free[nodes],
                            snapshot.model_id[nodes])
        cpu, hyp, mid = share_candidates(pod, snapshot, nodes)
        after = model.frag(cpu, hyp, mid)
        scores = self._q(before[:, None] - after)
        return np.where(eligible(pod, snapshot, nodes), scores, -1e9)

    def score(self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot,
              nodes: IntArray) -> FloatArray:
        after_free = (snapshot.gpu_free_total[nodes] - pod.total_gpu_milli).astype(np.float64)
        tie = self._tie(pod, snapshot, nodes, after_free)
        if not pod.wants_gpu and self.cpu_tie != "none":
            free = snapshot.gpu_free_total[nodes] / 8000.0
            cpu_left = (snapshot.cpu_free[nodes] - pod.cpu_milli) / 128000.0
            if self.cpu_tie == "pack":
                tie = 0.5 * (1.0 - free)
            elif self.cpu_tie == "zero":
                tie = 0.5 * (free == 0)
            elif self.cpu_tie == "ratio":
                # GPU-poor, CPU-rich nodes first
                tie = 0.25 * (1.0 - free) + 0.25 * cpu_left
        if pod.is_gpu_share:
            return self.device_scores(pod, snapshot, nodes).max(axis=1) + tie
        mode = self.whole if pod.wants_gpu else self.cpu
        if mode == "bestfit":
            c = (snapshot.cpu_free[nodes] - pod.cpu_milli) / 128000.0
            return np.trunc(100 * (1.0 - 0.5 * c - 0.5 * after_free / 8000.0))
        if mode == "gpubestfit":
            return np.trunc(100 * (1.0 - after_free / 8000.0))
        model = self.models.for_snapshot(snapshot)
        mid = snapshot.model_id[nodes]
        before = model.frag(snapshot.cpu_free[nodes], snapshot.gpu_free[nodes], mid)
        cpu, free = placed_state(pod, snapshot, nodes)
        return self._q(before - model.frag(cpu, free, mid)) + tie

    def assign(self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot,
               node: int) -> tuple[DeviceShare, ...]:
        if not pod.is_gpu_share:
            return best_fit_devices(pod, snapshot, node)
        rows = np.array([node])
        scores = self.device_scores(pod, snapshot, rows)[0]
        if self.devsel == "exact":
            model = self.models.for_snapshot(snapshot)
            cpu, hyp, mid = share_candidates(pod, snapshot, rows)
            after = model.frag(cpu, hyp, mid)[0]
            ok = eligible(pod, snapshot, rows)[0]
            return shares(pod, [int(np.argmin(np.where(ok, after, np.inf)))])
        if self.devsel == "first":
            return shares(pod, [int(np.argmax(scores))])
        best = scores == scores.max()
        free = np.where(best, snapshot.gpu_free[node], 1 << 40)
        return shares(pod, [int(np.argmin(free))])


VARIANT: dict[str, object] = {}


def dockyard_plugins(typical: TypicalPods) -> tuple[Plugin, ...]:
    """Score and device plugins of the default policy."""
    return (FragPackScore(typical, **VARIANT),)  # type: ignore[arg-type]
