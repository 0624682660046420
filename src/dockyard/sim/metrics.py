"""Per-event measurements of a replay, bucketed by arrived GPU demand.

After every pod attempt (placed or not) we record the arrived GPU demand, the allocated GPU
milli and the cluster fragmentation. For each whole percent k of arrived demand, the cell is
the mean over the events whose demand rounds to k (widened to k±1 when there are none), as
in the FGD paper's analysis scripts.
"""

from __future__ import annotations

import numpy as np

from dockyard.scheduler.framework import FloatArray


def bucket_means(
    arrived_milli: FloatArray, values_pct: FloatArray, total_gpus: int, max_pct: int
) -> dict[str, float | None]:
    """Map "k" (0..max_pct) → mean of ``values_pct`` over events whose demand rounds to k."""
    arrive = np.round(arrived_milli / total_gpus / 10.0).astype(np.int64)
    out: dict[str, float | None] = {}
    for k in range(max_pct + 1):
        sel = arrive == k
        if not sel.any():
            sel = (arrive >= k - 1) & (arrive <= k + 1)
        out[str(k)] = round(float(values_pct[sel].mean()), 2) if sel.any() else None
    return out


def allocation_curve(
    arrived_milli: FloatArray, used_milli: FloatArray, total_gpus: int, max_pct: int
) -> dict[str, float | None]:
    """GPU allocation % per arrived-demand percent (each event rounded to 2 decimals)."""
    alloc = np.round(used_milli / total_gpus / 10.0, 2)
    return bucket_means(arrived_milli, alloc, total_gpus, max_pct)


def frag_curve(
    arrived_milli: FloatArray, frag_milli: FloatArray, total_gpus: int, max_pct: int
) -> dict[str, float | None]:
    """Fragmented GPU milli as % of the cluster's GPUs, per arrived-demand percent."""
    return bucket_means(arrived_milli, frag_milli / total_gpus / 10.0, total_gpus, max_pct)
