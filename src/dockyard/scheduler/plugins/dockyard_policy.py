"""Dockyard's default placement policy: FGD's fragmentation gradient, with FGD's ties broken
by the *eventual* waste a shared-GPU placement leaves behind.

Primary score: ``trunc(100·sigmoid(Δ/1000))`` as in FGD (Δ = fragmentation removed by the
placement, measured against the workload's typical pods). FGD's measure is myopic: it asks
whether the *next* typical pod could use a gap, so a 530-milli gap (a lone 470 share) looks
worse than a 190-milli one although the 530 gap is usually closed by a later 470 or 320
share and the 190 gap (beside the common 810 share) almost never is. Integer scores tie
often, and among tied placements FGD falls back to the node rank. Dockyard breaks those
ties first by the change in *eventual waste* ``W``, then by whether the node already has a
GPU in use, then by rank:

* ``w(x)``, the milli a gap of ``x`` free milli is expected to leave unused once the stream
  of shared pods has filled it: a gap is filled with probability
  ``min(1, P(shared typical share <= x) / fill_mass)`` by one of the fitting shares (in
  proportion to their typical-pod probabilities), recursively; otherwise its ``x`` milli
  are lost. ``w(0) = 0`` and a whole free device counts as ``w(1000) = 0`` (whole-GPU pods
  use it). ``W`` of a node is the sum over its devices.
* Shared pods score ``FGD + 0.5·sigmoid(ΔW/50) + 0.25·[node has a GPU in use]`` per device;
  the node takes its best device's score and the pod goes to that device (lowest index
  among equals). Other pods score ``FGD + 0.5·[node has a GPU in use]``.

Every tie-break term stays below one score point, so it only reorders nodes and devices
that FGD scores equal. Measured in ``docs/scheduling.md``.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np

from dockyard.scheduler.framework import (
    GPU_MILLI_PER_DEVICE,
    ClusterSnapshot,
    CycleState,
    DeviceShare,
    FloatArray,
    IntArray,
    Plugin,
    PodRequest,
)
from dockyard.scheduler.plugins._devices import eligible, shares
from dockyard.scheduler.plugins.fgd import FgdScore, share_candidates, sigmoid_score
from dockyard.scheduler.plugins.frag import TypicalPods

FILL_MASS = 0.02
"""Probability mass of fitting shared shapes at which a gap counts as surely filled."""


def eventual_waste(typical: TypicalPods, fill_mass: float = FILL_MASS) -> FloatArray:
    """``w[x]`` for x = 0..1000: expected milli a gap of ``x`` leaves unused (see module doc)."""
    if fill_mass <= 0:
        raise ValueError("fill_mass must be positive")
    share = [
        (m, p)
        for (_, m, n, _), p in zip(typical.shapes, typical.probs, strict=True)
        if n == 1 and 0 < m < GPU_MILLI_PER_DEVICE
    ]
    sizes = np.array([m for m, _ in share], dtype=np.int64)
    probs = np.array([p for _, p in share], dtype=np.float64)
    w = np.zeros(GPU_MILLI_PER_DEVICE + 1, dtype=np.float64)
    for x in range(1, GPU_MILLI_PER_DEVICE + 1):
        fit = sizes <= x
        mass = float(probs[fit].sum())
        if mass == 0.0:
            w[x] = x
            continue
        filled = min(1.0, mass / fill_mass)
        after = float(probs[fit] @ w[x - sizes[fit]]) / mass
        w[x] = (1.0 - filled) * x + filled * after
    w[GPU_MILLI_PER_DEVICE] = 0.0
    return w


class DockyardScore:
    """FGD score with eventual-waste and in-use tie-breaks (see module docstring)."""

    name = "DockyardScore"

    def __init__(
        self,
        typical: TypicalPods,
        fill_mass: float = FILL_MASS,
        waste_weight: float = 0.5,
        used_bonus: float = 0.5,
    ) -> None:
        if min(waste_weight, used_bonus) < 0 or max(used_bonus, waste_weight + used_bonus / 2) >= 1:
            raise ValueError("tie-break weights must stay below one score point")
        self.fgd = FgdScore(typical)
        self.waste = eventual_waste(typical, fill_mass)
        self.waste_weight = waste_weight
        self.used_bonus = used_bonus

    def cache_key(self, pod: PodRequest) -> Hashable:
        return pod.shape

    def device_scores(
        self, pod: PodRequest, snapshot: ClusterSnapshot, nodes: IntArray
    ) -> FloatArray:
        """``(K, G)`` scores of a shared pod per device: FGD plus the waste tie-break
        (-1 where the device is not eligible)."""
        model = self.fgd.models.for_snapshot(snapshot)
        free = snapshot.gpu_free[nodes]
        before = model.frag(snapshot.cpu_free[nodes], free, snapshot.model_id[nodes])
        cpu, hyp, mid = share_candidates(pod, snapshot, nodes)
        fgd = sigmoid_score(before[:, None] - model.frag(cpu, hyp, mid))
        ok = eligible(pod, snapshot, nodes)
        gain = self.waste[free] - self.waste[np.where(ok, free - pod.gpu_milli, 0)]
        tie = self.waste_weight / (1.0 + np.exp(-gain / 50.0))
        return np.where(ok, fgd + tie, -1.0)

    def score(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, nodes: IntArray
    ) -> FloatArray:
        in_use = snapshot.gpu_free_total[nodes] < snapshot.gpu_count[nodes] * 1000
        if pod.is_gpu_share:
            best = self.device_scores(pod, snapshot, nodes).max(axis=1)
            return np.asarray(best + self.used_bonus / 2 * in_use, dtype=np.float64)
        base = self.fgd.score(state, pod, snapshot, nodes)
        return np.asarray(base + self.used_bonus * in_use, dtype=np.float64)

    def assign(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, node: int
    ) -> tuple[DeviceShare, ...]:
        if not pod.is_gpu_share:
            return self.fgd.assign(state, pod, snapshot, node)
        scores = self.device_scores(pod, snapshot, np.array([node]))[0]
        return shares(pod, [int(np.argmax(scores))])


def dockyard_plugins(typical: TypicalPods) -> tuple[Plugin, ...]:
    """Score and device plugins of the default policy."""
    return (DockyardScore(typical),)
