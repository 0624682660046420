"""Dockyard's default placement policy: FGD's fragmentation gradient, with ties sent to
nodes whose GPUs are already in use.

Score = ``trunc(100·sigmoid(Δ/T))`` as in FGD (Δ = fragmentation removed by the placement,
measured against the workload's typical pods; T = 1000 milli), plus 0.5 on nodes that
already have a GPU in use. The bonus is below one score point, so it only reorders nodes
FGD scores equal: among them, partly used nodes fill first and idle nodes stay whole for
multi-GPU pods; remaining ties go to the fixed node rank. Shared pods take the device with
the best score (lowest index among equals), other pods their best-fit devices.

Status (measured, ``docs/scheduling.md``): on the default trace this is within seed noise
of FGD, not yet the >= 96.0 % target.
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
    Plugin,
    PodRequest,
)
from dockyard.scheduler.plugins.fgd import FgdScore
from dockyard.scheduler.plugins.frag import TypicalPods


class DockyardScore:
    """FGD score plus a sub-point bonus for nodes with GPUs in use (see module docstring)."""

    name = "DockyardScore"

    def __init__(self, typical: TypicalPods, used_bonus: float = 0.5) -> None:
        if not 0 <= used_bonus < 1:
            raise ValueError("used_bonus must be in [0, 1) so it only breaks ties")
        self.fgd = FgdScore(typical)
        self.used_bonus = used_bonus

    def cache_key(self, pod: PodRequest) -> Hashable:
        return pod.shape

    def score(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, nodes: IntArray
    ) -> FloatArray:
        base = self.fgd.score(state, pod, snapshot, nodes)
        in_use = snapshot.gpu_free_total[nodes] < snapshot.gpu_count[nodes] * 1000
        return np.asarray(base + self.used_bonus * in_use, dtype=np.float64)

    def assign(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, node: int
    ) -> tuple[DeviceShare, ...]:
        return self.fgd.assign(state, pod, snapshot, node)


def dockyard_plugins(typical: TypicalPods) -> tuple[Plugin, ...]:
    """Score and device plugins of the default policy."""
    return (DockyardScore(typical),)
