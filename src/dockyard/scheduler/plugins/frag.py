"""GPU fragmentation measured against a workload's typical pods (the FGD measure).

``TypicalPods.from_pods`` picks the request shapes that make up 95 % of a pod population by
count. ``FragModel.frag`` gives, for a batch of node states, the expected GPU milli that a
pod drawn from those shapes could not use:

* a CPU-only shape, or a shape whose GPU model list excludes the node: all free GPU milli;
* a shape that fits (enough devices with free ≥ its share, and enough CPU): the free milli
  of the devices too small for it;
* a shape that does not fit: all free GPU milli.

The node fragmentation is the probability-weighted sum; the cluster's is the sum over nodes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from dockyard.scheduler.framework import BoolArray, FloatArray, IntArray, PodRequest

Shape = tuple[int, int, int, str]
"""(cpu milli, per-device gpu milli, gpu count, gpu model list joined with '|')."""


def shape_of(pod: PodRequest) -> Shape:
    """The typical-pod key of a pod; CPU-only pods are ``(cpu, 0, 0, "")``."""
    if not pod.wants_gpu:
        return (pod.cpu_milli, 0, 0, "")
    return (pod.cpu_milli, pod.gpu_milli, pod.gpu_count, "|".join(pod.gpu_models))


@dataclass(frozen=True)
class TypicalPods:
    """Request shapes with their probabilities (summing to 1)."""

    shapes: tuple[Shape, ...]
    probs: tuple[float, ...]

    @classmethod
    def from_pods(cls, pods: Iterable[PodRequest], coverage: float = 0.95) -> TypicalPods:
        """The most popular shapes (by pod count) until their share reaches ``coverage``.

        Order: count descending, then cpu, gpu milli, gpu count and model string, all
        descending. The shape that crosses ``coverage`` is kept; probabilities are
        renormalised over the kept shapes.
        """
        counts = Counter(shape_of(p) for p in pods)
        total = sum(counts.values())
        if total == 0:
            return cls((), ())
        ranked = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
        kept: list[tuple[Shape, int]] = []
        acc = 0
        for shape, n in ranked:
            if acc >= coverage * total:
                break
            kept.append((shape, n))
            acc += n
        return cls(tuple(s for s, _ in kept), tuple(n / acc for _, n in kept))


class FragModel:
    """Vectorized fragmentation of node states against fixed typical pods and GPU models."""

    def __init__(self, typical: TypicalPods, models: Sequence[str]) -> None:
        gpu = [i for i, s in enumerate(typical.shapes) if s[1] > 0]
        self.thresholds: IntArray = np.array(
            sorted({typical.shapes[i][1] for i in gpu}), dtype=np.int64
        )
        pos = {int(m): k for k, m in enumerate(self.thresholds)}
        self.t_threshold: IntArray = np.array(
            [pos[typical.shapes[i][1]] for i in gpu], dtype=np.int64
        )
        self.t_count: IntArray = np.array([typical.shapes[i][2] for i in gpu], dtype=np.int64)
        self.t_cpu: IntArray = np.array([typical.shapes[i][0] for i in gpu], dtype=np.int64)
        self.t_prob: FloatArray = np.array([typical.probs[i] for i in gpu], dtype=np.float64)
        self.other_prob = float(sum(typical.probs)) - float(self.t_prob.sum())
        # model_ok[model, t]: may GPU typical pod t use a node of that model?
        ok = np.ones((len(models), len(gpu)), dtype=np.bool_)
        for col, i in enumerate(gpu):
            spec = typical.shapes[i][3]
            if spec:
                names = set(spec.split("|"))
                ok[:, col] = [m != "" and m in names for m in models]
        self.model_ok: BoolArray = ok

    def frag(self, cpu_free: IntArray, gpu_free: IntArray, model_id: IntArray) -> FloatArray:
        """Fragmentation (milli-GPU) of each of K node states.

        ``gpu_free`` has shape ``S + (G,)`` (free milli per device, padded with 0);
        ``cpu_free`` and ``model_id`` have shape ``S``, any batch shape.
        """
        total: FloatArray = gpu_free.sum(axis=-1).astype(np.float64)
        if self.t_prob.size == 0:
            return total
        free = gpu_free[..., None]  # (..., K, G, 1)
        thr = self.thresholds
        big = free >= thr  # (..., K, G, M)
        count = big.sum(axis=-2)  # (..., K, M)
        small = np.where(big, 0, free).sum(axis=-2)  # (..., K, M)
        fits = count[..., self.t_threshold] >= self.t_count
        fits &= cpu_free[..., None] >= self.t_cpu
        fits &= self.model_ok[model_id]
        usable = (total[..., None] - small[..., self.t_threshold]) * fits
        return np.asarray(total - usable @ self.t_prob, dtype=np.float64)
