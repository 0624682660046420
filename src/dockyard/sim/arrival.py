"""Arrival sequence and node order of one replay (the FGD simulator's "tuning").

The pod list, sorted by name, is shuffled with the seed. If its GPU demand is below the
target (``demand x cluster GPU milli``), pods drawn uniformly with replacement from the
name-sorted list are appended until the first draw whose per-GPU milli would cross the
target (that draw is dropped; a multi-GPU pod may overshoot, as in the original). If the
demand is above the target, random pods are removed until it is not. Nodes get one random
rank per run, which breaks score ties for the whole run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dockyard.scheduler.framework import IntArray, PodRequest


def arrival_sequence(
    pods: Sequence[PodRequest], cluster_gpu_milli: int, demand: float, rng: np.random.Generator
) -> list[PodRequest]:
    """Pods in arrival order, their GPU demand tuned to ``demand`` x the cluster."""
    pool = sorted(pods, key=lambda p: p.name)
    seq = [pool[i] for i in rng.permutation(len(pool))]
    have = sum(p.total_gpu_milli for p in seq)
    target = demand * cluster_gpu_milli
    if have < target and pool:
        while True:
            extra = pool[int(rng.integers(len(pool)))]
            if have + extra.gpu_milli > target:
                break
            seq.append(extra)
            have += extra.total_gpu_milli
        return seq
    while have > target and seq:
        gone = seq.pop(int(rng.integers(len(seq))))
        have -= gone.total_gpu_milli
    return seq


def node_ranks(count: int, rng: np.random.Generator) -> IntArray:
    """One uniformly random tie-break rank per node (lower wins)."""
    return rng.permutation(count).astype(np.int64)
