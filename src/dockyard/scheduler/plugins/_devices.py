"""GPU device arithmetic shared by filters, scores and device plugins.

All functions are vectorized over a set of node indices: ``free`` arguments are ``K x G``
arrays of free milli per device, padded with 0 past each node's device count.
"""

from __future__ import annotations

import numpy as np

from dockyard.scheduler.framework import (
    GPU_MILLI_PER_DEVICE,
    BoolArray,
    ClusterSnapshot,
    DeviceShare,
    IntArray,
    PodRequest,
)

_NOT_ELIGIBLE = np.int64(1 << 40)


def eligible(pod: PodRequest, snapshot: ClusterSnapshot, nodes: IntArray | slice) -> BoolArray:
    """``K x G`` mask of devices that can host one of the pod's per-device shares."""
    ok = snapshot.gpu_free[nodes] >= pod.gpu_milli
    ok &= snapshot.gpu_exists[nodes]
    if pod.gpu_memory_mib:
        ok &= snapshot.gmem_free[nodes] >= pod.gpu_memory_mib
    return ok


def model_accepts(pod: PodRequest, snapshot: ClusterSnapshot) -> BoolArray:
    """Per-model mask (indexed like ``snapshot.models``): may the pod use that model?

    An empty ``gpu_models`` accepts every model; otherwise the model string must equal one of
    the listed names (a node without a model label never matches).
    """
    if not pod.gpu_models:
        return np.ones(len(snapshot.models), dtype=np.bool_)
    wanted = set(pod.gpu_models)
    return np.array([m != "" and m in wanted for m in snapshot.models], dtype=np.bool_)


def best_fit_order(free: IntArray, ok: BoolArray) -> IntArray:
    """Device indices per row, eligible ones first by ascending free milli (stable on index)."""
    return np.argsort(np.where(ok, free, _NOT_ELIGIBLE), axis=1, kind="stable")


def best_fit_devices(
    pod: PodRequest, snapshot: ClusterSnapshot, node: int
) -> tuple[DeviceShare, ...]:
    """The ``gpu_count`` eligible devices with the least free milli (lowest index on ties).

    For whole-GPU pods every eligible device is fully free, so this is "the first n free
    devices in index order".
    """
    if not pod.wants_gpu:
        return ()
    rows = np.array([node])
    order = best_fit_order(snapshot.gpu_free[rows], eligible(pod, snapshot, rows))[0]
    return shares(pod, order[: pod.gpu_count])


def shares(pod: PodRequest, indices: IntArray | list[int]) -> tuple[DeviceShare, ...]:
    """The pod's per-device share on each of ``indices``."""
    return tuple(DeviceShare(int(g), pod.gpu_milli, pod.gpu_memory_mib) for g in indices)


def apply_best_fit(pod: PodRequest, free: IntArray, ok: BoolArray) -> IntArray:
    """Copy of ``free`` after placing the pod on each row's best-fit devices."""
    order = best_fit_order(free, ok)[:, : pod.gpu_count]
    out = free.copy()
    rows = np.arange(free.shape[0])[:, None]
    out[rows, order] -= pod.gpu_milli
    return out


FULL = GPU_MILLI_PER_DEVICE
