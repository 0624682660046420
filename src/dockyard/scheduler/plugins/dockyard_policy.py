"""Dockyard's default placement policy: FGD's fragmentation gradient extended by the GPUs a
node will strand for lack of CPU, with ties broken by the *eventual* waste a shared-GPU
placement leaves behind.

Primary score: ``trunc(100·sigmoid((Δ - λ·ΔS)/T))``. Δ is FGD's gradient (fragmentation
removed by the placement, measured against the workload's typical pods); ``S`` is the
*eventual CPU stranding* of a node, ``S = max(0, r·g - c)/r`` milli-GPU for ``g`` free GPU
milli and ``c`` free CPU milli, with ``r`` the CPU milli a GPU milli needs on average
(``cpu_per_gpu``, 12 cores per GPU by default: the workload's typical pods ask for about
11, the most common node has 12). FGD only asks whether the *next* typical pod still fits,
so it happily spends the CPU of an 8-GPU node on CPU-heavy pods until its last GPUs
cannot be used by anybody; ``ΔS`` charges that loss when it is caused, steering CPU-only
and CPU-heavy pods to CPU-rich nodes and CPU-light ones to CPU-poor nodes. ``T`` is 1000
(FGD's) for whole-GPU and CPU-only pods and 3000 for shared pods (``share_temperature``):
one score point then spans about 120 milli instead of 40, so shared placements whose
fragmentation differs by less than about an eighth of a GPU tie and are decided by the
eventual-waste tie-break below, which looks further ahead than FGD's next-pod measure.

Integer scores tie often, and among tied placements FGD falls back to the node rank.
Dockyard breaks those ties first by the change in eventual waste ``W``, then by whether
the node already has a GPU in use, then by rank:

* ``w(x)``, the milli a gap of ``x`` free milli is expected to leave unused once the stream
  of shared pods has filled it: a gap is filled with probability
  ``min(1, P(shared typical share <= x) / fill_mass)`` by one of the fitting shares (in
  proportion to their typical-pod probabilities), recursively; otherwise its ``x`` milli
  are lost. ``w(0) = 0`` and a whole free device counts as ``w(1000) = 0`` (whole-GPU pods
  use it). ``W`` of a node is the sum over its devices.
* Shared pods score ``primary + 0.5·sigmoid(ΔW/50) + 0.25·[node has a GPU in use]`` per
  device; the node takes its best device's score and the pod goes to that device (lowest
  index among equals). Other pods score ``primary + 0.5·[node has a GPU in use]``.

Every tie-break term stays below one score point, so it only reorders nodes and devices
that the primary score rates equal. Measured in ``docs/scheduling.md``.
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
from dockyard.scheduler.plugins.fgd import FgdScore, sigmoid_score
from dockyard.scheduler.plugins.frag import TypicalPods

FILL_MASS = 0.02
"""Probability mass of fitting shared shapes at which a gap counts as surely filled."""

CPU_PER_GPU = 12.0
"""CPU milli one GPU milli needs on average (12 cores per GPU), for the stranding term."""

STRAND_WEIGHT = 1.0
"""Weight λ of the eventual CPU stranding in the primary score's gradient."""

SHARE_TEMPERATURE = 3000.0
"""Sigmoid temperature T of the primary score for shared-GPU pods (FGD: 1000)."""


def cpu_stranding(cpu_free: IntArray, gpu_free: IntArray, cpu_per_gpu: float) -> FloatArray:
    """Milli-GPU a node cannot use once each free GPU milli needs ``cpu_per_gpu`` CPU milli:
    ``max(0, cpu_per_gpu·gpu_free - cpu_free) / cpu_per_gpu`` (same shape as the inputs)."""
    short = np.maximum(0.0, cpu_per_gpu * gpu_free - cpu_free)
    return np.asarray(short / cpu_per_gpu, dtype=np.float64)


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
    """FGD gradient with the CPU-stranding term, plus eventual-waste and in-use tie-breaks
    (see module docstring)."""

    name = "DockyardScore"

    def __init__(
        self,
        typical: TypicalPods,
        fill_mass: float = FILL_MASS,
        waste_weight: float = 0.5,
        used_bonus: float = 0.5,
        cpu_per_gpu: float = CPU_PER_GPU,
        strand_weight: float = STRAND_WEIGHT,
        share_temperature: float = SHARE_TEMPERATURE,
    ) -> None:
        if min(waste_weight, used_bonus) < 0 or max(used_bonus, waste_weight + used_bonus / 2) >= 1:
            raise ValueError("tie-break weights must stay below one score point")
        if cpu_per_gpu <= 0 or share_temperature <= 0 or strand_weight < 0:
            raise ValueError(
                "cpu_per_gpu and share_temperature must be positive, strand_weight not negative"
            )
        self.fgd = FgdScore(typical)
        self.waste = eventual_waste(typical, fill_mass)
        self.waste_weight = waste_weight
        self.used_bonus = used_bonus
        self.cpu_per_gpu = cpu_per_gpu
        self.strand_weight = strand_weight
        self.share_temperature = share_temperature

    def cache_key(self, pod: PodRequest) -> Hashable:
        return pod.shape

    def stranding_change(
        self, pod: PodRequest, snapshot: ClusterSnapshot, nodes: IntArray
    ) -> FloatArray:
        """``ΔS`` per node: CPU stranding after placing the pod minus before (milli-GPU)."""
        cpu, gpu = snapshot.cpu_free[nodes], snapshot.gpu_free_total[nodes]
        after = cpu_stranding(cpu - pod.cpu_milli, gpu - pod.total_gpu_milli, self.cpu_per_gpu)
        return after - cpu_stranding(cpu, gpu, self.cpu_per_gpu)

    def device_scores(
        self, pod: PodRequest, snapshot: ClusterSnapshot, nodes: IntArray
    ) -> FloatArray:
        """``(K, G)`` scores of a shared pod per device: primary score plus the waste
        tie-break (-1 where the device is not eligible)."""
        free = snapshot.gpu_free[nodes]
        stranded = self.stranding_change(pod, snapshot, nodes)
        delta = self.fgd.share_deltas(pod, snapshot, nodes)
        primary = sigmoid_score(
            delta - self.strand_weight * stranded[:, None], self.share_temperature
        )
        ok = eligible(pod, snapshot, nodes)
        gain = self.waste[free] - self.waste[np.where(ok, free - pod.gpu_milli, 0)]
        tie = self.waste_weight / (1.0 + np.exp(-gain / 50.0))
        return np.where(ok, primary + tie, -1.0)

    def score(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, nodes: IntArray
    ) -> FloatArray:
        in_use = snapshot.gpu_free_total[nodes] < snapshot.gpu_count[nodes] * 1000
        if pod.is_gpu_share:
            best = self.device_scores(pod, snapshot, nodes).max(axis=1)
            return np.asarray(best + self.used_bonus / 2 * in_use, dtype=np.float64)
        stranded = self.stranding_change(pod, snapshot, nodes)
        delta = self.fgd.placed_deltas(pod, snapshot, nodes)
        primary = sigmoid_score(delta - self.strand_weight * stranded)
        return np.asarray(primary + self.used_bonus * in_use, dtype=np.float64)

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
