"""FGD: Fragmentation Gradient Descent (Weng et al., USENIX ATC'23) as score + device plugin.

For each feasible node, place the pod hypothetically and measure how node fragmentation
(``frag.FragModel``) changes: Δ = F_before - F_after (milli-GPU; positive = less
fragmentation). Score = ``trunc(100·sigmoid(Δ/1000))``. A shared-GPU pod is tried on every
eligible device and the node scores its best device; that device (lowest index among equal
scores) is the one assigned. Other GPU pods take the best-fit devices (for whole GPUs: the
first free ones).
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np

from dockyard.scheduler.framework import (
    ClusterSnapshot,
    CycleState,
    DeviceShare,
    FloatArray,
    IntArray,
    PodRequest,
)
from dockyard.scheduler.plugins._devices import apply_best_fit, best_fit_devices, eligible, shares
from dockyard.scheduler.plugins.frag import FragModel, TypicalPods


class FragModels:
    """One ``FragModel`` per list of GPU models (a snapshot's), built on first use."""

    def __init__(self, typical: TypicalPods) -> None:
        self.typical = typical
        self._by_models: dict[tuple[str, ...], FragModel] = {}

    def for_snapshot(self, snapshot: ClusterSnapshot) -> FragModel:
        key = tuple(snapshot.models)
        model = self._by_models.get(key)
        if model is None:
            model = self._by_models[key] = FragModel(self.typical, key)
        return model


def sigmoid_score(delta: FloatArray, temperature: float = 1000.0) -> FloatArray:
    """``trunc(100·sigmoid(Δ/T))``, T = 1000 for FGD: 50 for no change, ~1 point per 40
    milli near 0 (per ``T/25`` milli in general)."""
    return np.asarray(np.trunc(100.0 / (1.0 + np.exp(-delta / temperature))), dtype=np.float64)


def share_candidates(
    pod: PodRequest, snapshot: ClusterSnapshot, nodes: IntArray
) -> tuple[IntArray, IntArray, IntArray]:
    """Hypothetical states of placing a shared pod on each device: (cpu, gpu, model).

    Shapes ``(K, G)``, ``(K, G, G)`` and ``(K, G)``: row g of node k has device g reduced by
    the pod's share.
    """
    free = snapshot.gpu_free[nodes]
    g = free.shape[1]
    hyp = free[:, None, :] - pod.gpu_milli * np.eye(g, dtype=np.int64)[None, :, :]
    cpu = np.broadcast_to((snapshot.cpu_free[nodes] - pod.cpu_milli)[:, None], (nodes.size, g))
    model = np.broadcast_to(snapshot.model_id[nodes][:, None], (nodes.size, g))
    return cpu, hyp, model


def placed_state(
    pod: PodRequest, snapshot: ClusterSnapshot, nodes: IntArray
) -> tuple[IntArray, IntArray]:
    """(cpu, gpu) of each node after placing a non-shared pod on its best-fit devices."""
    free = snapshot.gpu_free[nodes]
    if pod.wants_gpu:
        free = apply_best_fit(pod, free, eligible(pod, snapshot, nodes))
    return snapshot.cpu_free[nodes] - pod.cpu_milli, free


class FgdScore:
    """FGD node score and device choice (see module docstring)."""

    name = "FGD"

    def __init__(self, typical: TypicalPods) -> None:
        self.models = FragModels(typical)

    def cache_key(self, pod: PodRequest) -> Hashable:
        return pod.shape

    def share_deltas(
        self, pod: PodRequest, snapshot: ClusterSnapshot, nodes: IntArray
    ) -> FloatArray:
        """``(K, G)`` fragmentation removed by placing a shared pod on each device (the
        value for ineligible devices is meaningless; mask with ``eligible``)."""
        model = self.models.for_snapshot(snapshot)
        before = model.frag(
            snapshot.cpu_free[nodes], snapshot.gpu_free[nodes], snapshot.model_id[nodes]
        )
        cpu, hyp, mid = share_candidates(pod, snapshot, nodes)
        return before[:, None] - model.frag(cpu, hyp, mid)

    def placed_deltas(
        self, pod: PodRequest, snapshot: ClusterSnapshot, nodes: IntArray
    ) -> FloatArray:
        """Fragmentation removed by placing a non-shared pod on each node (best-fit devices)."""
        model = self.models.for_snapshot(snapshot)
        mid = snapshot.model_id[nodes]
        before = model.frag(snapshot.cpu_free[nodes], snapshot.gpu_free[nodes], mid)
        cpu, free = placed_state(pod, snapshot, nodes)
        return before - model.frag(cpu, free, mid)

    def device_scores(
        self, pod: PodRequest, snapshot: ClusterSnapshot, nodes: IntArray
    ) -> FloatArray:
        """``(K, G)`` integer scores of a shared pod per device (-1 where not eligible)."""
        scores = sigmoid_score(self.share_deltas(pod, snapshot, nodes))
        return np.where(eligible(pod, snapshot, nodes), scores, -1.0)

    def score(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, nodes: IntArray
    ) -> FloatArray:
        if pod.is_gpu_share:
            return np.asarray(
                self.device_scores(pod, snapshot, nodes).max(axis=1), dtype=np.float64
            )
        return sigmoid_score(self.placed_deltas(pod, snapshot, nodes))

    def assign(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, node: int
    ) -> tuple[DeviceShare, ...]:
        if not pod.is_gpu_share:
            return best_fit_devices(pod, snapshot, node)
        scores = self.device_scores(pod, snapshot, np.array([node]))[0]
        return shares(pod, [int(np.argmax(scores))])
