"""Score plugins for the baseline policies of the FGD paper (USENIX ATC'23).

Each reproduces the integer score of the authors' simulator, because ties (broken by the
snapshot's fixed node rank) decide a large part of every policy's result:

* ``RandomScore``: one uniformly random feasible node gets 100, the rest 0.
* ``DotProductScore``: ``trunc(100·(1 - d/2))``, d = free·request over (cpu, gpu), each
  normalised by the largest node (128 cores, 8 GPUs).
* ``GpuClusteringScore``: prefer nodes that already run pods of the same GPU kind.
* ``GpuPackingScore``: prefer a partly used GPU, then a free GPU on a used node, then the
  smallest idle node.
* ``BestFitScore``: least leftover, ``0.5·cpu + 0.5·gpu``; min-max normalised.

All but ``RandomScore`` depend only on the node's own state and the pod's shape, so the
framework caches them per shape.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np

from dockyard.scheduler.framework import (
    SUCCESS,
    ClusterSnapshot,
    CycleState,
    DeviceShare,
    FloatArray,
    IntArray,
    PodRequest,
    Status,
)
from dockyard.scheduler.plugins._devices import (
    FULL,
    best_fit_devices,
    best_fit_order,
    eligible,
    shares,
)

MAX_NODE_CPU_MILLI = 128_000
MAX_NODE_GPU_MILLI = 8_000


def _trunc(x: FloatArray) -> FloatArray:
    return np.trunc(x)


class RandomScore:
    """Gives 100 to one feasible node drawn uniformly at random (from ``rng``), 0 elsewhere."""

    name = "RandomScore"
    _KEY = "RandomScore/pick"

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def pre_score(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, feasible: IntArray
    ) -> Status:
        state.write(self._KEY, int(feasible[self.rng.integers(feasible.size)]))
        return SUCCESS

    def score(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, nodes: IntArray
    ) -> FloatArray:
        return np.where(nodes == state.read(self._KEY), 100.0, 0.0)


class RandomDevices:
    """Device choice of the Random policy: a random eligible device for a shared pod, the
    first eligible devices in index order otherwise."""

    name = "RandomDevices"

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def assign(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, node: int
    ) -> tuple[DeviceShare, ...]:
        if not pod.wants_gpu:
            return ()
        ok = np.flatnonzero(eligible(pod, snapshot, np.array([node]))[0])
        if pod.is_gpu_share:
            return shares(pod, [int(ok[self.rng.integers(ok.size)])])
        return shares(pod, ok[: pod.gpu_count])


class BestFitDevices:
    """Device choice "best": the eligible devices with the least free milli."""

    name = "BestFitDevices"

    def assign(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, node: int
    ) -> tuple[DeviceShare, ...]:
        return best_fit_devices(pod, snapshot, node)


class DotProductScore:
    """``trunc(100·(1 - (c_free·c/128k² + L_free·r/8k²)/2))``: smallest free vector wins."""

    name = "DotProductScore"

    def cache_key(self, pod: PodRequest) -> Hashable:
        return (pod.cpu_milli, pod.total_gpu_milli)

    def score(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, nodes: IntArray
    ) -> FloatArray:
        d = (snapshot.cpu_free[nodes] / MAX_NODE_CPU_MILLI) * (pod.cpu_milli / MAX_NODE_CPU_MILLI)
        d = d + (snapshot.gpu_free_total[nodes] / MAX_NODE_GPU_MILLI) * (
            pod.total_gpu_milli / MAX_NODE_GPU_MILLI
        )
        return _trunc(100.0 * (1.0 - d / 2.0))


class GpuClusteringScore:
    """Same-kind GPU pods together: offset 75 (only this kind), 50 (this kind and others),
    25 (no GPU pods), 0 (only other kinds), plus ``floor(25·used/8000)``. CPU-only pods
    score 0 everywhere."""

    name = "GpuClusteringScore"

    def cache_key(self, pod: PodRequest) -> Hashable:
        return pod.kind

    def score(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, nodes: IntArray
    ) -> FloatArray:
        if pod.kind < 0:
            return np.zeros(nodes.size)
        base = (25 * (MAX_NODE_GPU_MILLI - snapshot.gpu_free_total[nodes])) // MAX_NODE_GPU_MILLI
        tags = snapshot.kind_counts[nodes] > 0
        mine = tags[:, pod.kind]
        n_tags = tags.sum(axis=1)
        offset = np.where(mine, np.where(n_tags == 1, 75, 50), np.where(n_tags == 0, 25, 0))
        return (base + offset).astype(np.float64)


class GpuPackingScore:
    """Pack GPUs: a partly used device scores 91-100 (fuller is better), a free device on a
    used node ``max(50 - u, 33)`` (u = free devices taken), an idle node ``33 - G``
    (smaller nodes first). CPU-only pods score 0 everywhere."""

    name = "GpuPackingScore"

    def cache_key(self, pod: PodRequest) -> Hashable:
        return (pod.gpu_milli, pod.gpu_count, pod.gpu_memory_mib)

    def score(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, nodes: IntArray
    ) -> FloatArray:
        if not pod.wants_gpu:
            return np.zeros(nodes.size)
        free = snapshot.gpu_free[nodes]
        exists = snapshot.gpu_exists[nodes]
        full = np.count_nonzero((free == FULL) & exists, axis=1)
        count = snapshot.gpu_count[nodes]
        ok = eligible(pod, snapshot, nodes)
        order = best_fit_order(free, ok)[:, : pod.gpu_count]
        taken = np.take_along_axis(free, order, axis=1)
        used_full = np.count_nonzero(taken == FULL, axis=1)
        first = taken[:, 0]
        case1 = np.maximum(100 - (first * 100 // FULL) // 10, 50)
        case2 = np.maximum(50 - used_full, 33)
        idle = np.maximum(33 - full, full)
        out = np.where(full == count, idle, np.where(used_full > 0, case2, case1))
        return out.astype(np.float64)


class BestFitScore:
    """``trunc(100·(1 - (0.5·cpu_left/128k + 0.5·gpu_left/8k)))``, then min-max to 0..100."""

    name = "BestFitScore"

    def cache_key(self, pod: PodRequest) -> Hashable:
        return (pod.cpu_milli, pod.total_gpu_milli)

    def score(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, nodes: IntArray
    ) -> FloatArray:
        s = 0.5 * (snapshot.cpu_free[nodes] - pod.cpu_milli) / MAX_NODE_CPU_MILLI
        s = s + 0.5 * (snapshot.gpu_free_total[nodes] - pod.total_gpu_milli) / MAX_NODE_GPU_MILLI
        return _trunc(100.0 * (1.0 - s))

    def normalize(self, state: CycleState, pod: PodRequest, scores: FloatArray) -> FloatArray:
        return min_max(scores)


def min_max(scores: FloatArray) -> FloatArray:
    """Integer min-max normalisation to 0..100 (all equal → all 100); keeps order and ties."""
    lo, hi = float(scores.min()), float(scores.max())
    if hi == lo:
        return np.full_like(scores, 100.0)
    return np.floor((scores - lo) * 100.0 / (hi - lo))
