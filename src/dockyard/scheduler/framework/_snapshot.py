"""``ClusterSnapshot``: the columnar cluster state one scheduling cycle reads.

Every per-node quantity is a numpy array indexed by node position, so filters and scores run
over all nodes at once. GPU state is tracked per device: ``gpu_free[j, g]`` is the free
milli-GPU of device ``g`` on node ``j`` (rows are padded with 0 past ``gpu_count[j]``).

How a caller uses it:

* build one with :meth:`ClusterSnapshot.from_nodes` from ``NodeSpec`` values, then
  :meth:`assume` each already-running pod with its known node and devices (the live
  scheduler does this from bound Pods; the simulator starts empty);
* run a cycle (``Framework.schedule``) to get a ``Decision``;
* apply it with ``Framework.commit`` (reserve → permit → bind), which calls :meth:`assume`;
  :meth:`forget` undoes an assume (Unreserve).

``version[j]`` changes whenever node ``j`` changes, and ``epoch`` identifies the snapshot, so
score plugins can cache per-node results between cycles and recompute only changed nodes.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from dockyard.scheduler.framework._types import (
    GPU_MILLI_PER_DEVICE,
    MAX_GPU_KINDS,
    DeviceShare,
    NodeSpec,
    PodRequest,
)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_versions = itertools.count(1)
_epochs = itertools.count(1)


class ClusterSnapshot:
    """Mutable columnar view of nodes and their free resources (see module docstring)."""

    def __init__(
        self, nodes: Sequence[NodeSpec], rank: Sequence[int] | IntArray | None = None
    ) -> None:
        n = len(nodes)
        self.names: list[str] = [s.name for s in nodes]
        self.index: dict[str, int] = {name: i for i, name in enumerate(self.names)}
        if len(self.index) != n:
            raise ValueError("node names must be unique")
        self.models: list[str] = sorted({s.gpu_model for s in nodes})
        model_pos = {m: i for i, m in enumerate(self.models)}
        width = max((s.gpu_count for s in nodes), default=0)
        self.max_gpus = max(width, 1)
        self.cpu_cap: IntArray = np.array([s.cpu_milli for s in nodes], dtype=np.int64)
        self.mem_cap: IntArray = np.array([s.memory_mib for s in nodes], dtype=np.int64)
        self.gpu_count: IntArray = np.array([s.gpu_count for s in nodes], dtype=np.int64)
        self.model_id: IntArray = np.array([model_pos[s.gpu_model] for s in nodes], dtype=np.int64)
        dev = np.arange(self.max_gpus)[None, :] < self.gpu_count[:, None]
        self.gpu_exists: BoolArray = dev
        self.gpu_cap: IntArray = np.where(dev, GPU_MILLI_PER_DEVICE, 0).astype(np.int64)
        gmem = np.array([s.gpu_memory_mib for s in nodes], dtype=np.int64)
        self.gmem_cap: IntArray = np.where(dev, gmem[:, None], 0).astype(np.int64)
        self.cpu_free: IntArray = self.cpu_cap.copy()
        self.mem_free: IntArray = self.mem_cap.copy()
        self.gpu_free: IntArray = self.gpu_cap.copy()
        self.gmem_free: IntArray = self.gmem_cap.copy()
        self.gpu_free_total: IntArray = self.gpu_free.sum(axis=1)
        self.kind_counts: IntArray = np.zeros((n, MAX_GPU_KINDS), dtype=np.int64)
        self.pod_counts: IntArray = np.zeros(n, dtype=np.int64)
        self.rank: IntArray = (
            np.arange(n, dtype=np.int64) if rank is None else np.asarray(rank, dtype=np.int64)
        )
        if self.rank.shape != (n,):
            raise ValueError("rank must give one integer per node")
        self.version: IntArray = np.full(n, next(_versions), dtype=np.int64)
        self.epoch = next(_epochs)

    @classmethod
    def from_nodes(
        cls, nodes: Sequence[NodeSpec], rank: Sequence[int] | IntArray | None = None
    ) -> ClusterSnapshot:
        """A snapshot of empty nodes. ``rank`` orders ties (lower wins); default: list order."""
        return cls(nodes, rank)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def total_gpu_milli(self) -> int:
        """GPU capacity of the whole cluster in milli-GPU."""
        return int(self.gpu_cap.sum())

    @property
    def used_gpu_milli(self) -> int:
        """Allocated GPU milli over the whole cluster."""
        return self.total_gpu_milli - int(self.gpu_free_total.sum())

    def assume(self, node: int, pod: PodRequest, devices: Sequence[DeviceShare]) -> None:
        """Account ``pod`` on node ``node`` with the given device shares (Reserve).

        Raises ``ValueError`` when the node lacks the resources: callers only assume
        decisions a cycle produced on this snapshot, so that is a bug.
        """
        self._change(node, pod, devices, +1)

    def forget(self, node: int, pod: PodRequest, devices: Sequence[DeviceShare]) -> None:
        """Undo :meth:`assume` for the same arguments (Unreserve)."""
        self._change(node, pod, devices, -1)

    def _change(
        self, node: int, pod: PodRequest, devices: Sequence[DeviceShare], sign: int
    ) -> None:
        cpu = self.cpu_free[node] - sign * pod.cpu_milli
        mem = self.mem_free[node] - sign * pod.memory_mib
        if cpu < 0 or mem < 0 or cpu > self.cpu_cap[node] or mem > self.mem_cap[node]:
            raise ValueError(f"pod {pod.name} does not fit on node {self.names[node]}")
        for d in devices:
            free = self.gpu_free[node, d.index] - sign * d.milli
            gfree = self.gmem_free[node, d.index] - sign * d.memory_mib
            if (
                not self.gpu_exists[node, d.index]
                or free < 0
                or free > self.gpu_cap[node, d.index]
                or gfree < 0
            ):
                raise ValueError(
                    f"pod {pod.name} does not fit on device {d.index} of node {self.names[node]}"
                )
        self.cpu_free[node] = cpu
        self.mem_free[node] = mem
        for d in devices:
            self.gpu_free[node, d.index] -= sign * d.milli
            self.gmem_free[node, d.index] -= sign * d.memory_mib
            self.gpu_free_total[node] -= sign * d.milli
        if pod.kind >= 0:
            self.kind_counts[node, pod.kind] += sign
        self.pod_counts[node] += sign
        self.version[node] = next(_versions)
