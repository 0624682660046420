"""Filter plugins: CPU and memory fit, and the GPU filter (count, share, memory, model).

Each returns, per reason, a mask over all nodes of the snapshot (True = rejected). The
reasons are the words ``Decision.explain`` counts ("insufficient gpu", ...).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dockyard.scheduler.framework import (
    GPU_MILLI_PER_DEVICE,
    SUCCESS,
    BoolArray,
    ClusterSnapshot,
    CycleState,
    PodRequest,
    Status,
    unresolvable,
)
from dockyard.scheduler.plugins._devices import eligible, model_accepts


class NodeResourcesFit:
    """Rejects nodes whose free CPU (milli) or memory (MiB) is below the request."""

    name = "NodeResourcesFit"

    def filter(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot
    ) -> Mapping[str, BoolArray]:
        out: dict[str, BoolArray] = {}
        if pod.cpu_milli:
            out["insufficient cpu"] = snapshot.cpu_free < pod.cpu_milli
        if pod.memory_mib:
            out["insufficient memory"] = snapshot.mem_free < pod.memory_mib
        return out


class GpuFit:
    """GPU filter: node has GPUs of an accepted model and enough eligible devices.

    A device is eligible when its free milli is at least ``gpu_milli`` (and its free GPU
    memory at least ``gpu_memory_mib`` when asked); the node needs ``gpu_count`` of them.
    The pre-filter rejects malformed requests as unresolvable.
    """

    name = "GpuFit"

    def pre_filter(self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot) -> Status:
        if pod.gpu_count < 0 or pod.gpu_milli < 0 or pod.gpu_memory_mib < 0:
            return unresolvable(self.name, "negative gpu request")
        if pod.gpu_count > 0 and not 0 < pod.gpu_milli <= GPU_MILLI_PER_DEVICE:
            return unresolvable(
                self.name, f"gpu-milli must be 1..{GPU_MILLI_PER_DEVICE}, got {pod.gpu_milli}"
            )
        if pod.gpu_count == 0 and (pod.gpu_milli or pod.gpu_memory_mib):
            return unresolvable(self.name, "gpu share requested without a gpu")
        return SUCCESS

    def filter(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot
    ) -> Mapping[str, BoolArray]:
        if not pod.wants_gpu:
            return {}
        out: dict[str, BoolArray] = {"no gpu": snapshot.gpu_count == 0}
        if pod.gpu_models:
            out["gpu model mismatch"] = ~model_accepts(pod, snapshot)[snapshot.model_id]
        ok = eligible(pod, snapshot, slice(None))
        out["insufficient gpu"] = np.count_nonzero(ok, axis=1) < pod.gpu_count
        return out
