"""Plain, store-independent values the scheduling cycle reads and returns.

``PodRequest`` is what the scheduler needs to know about a Pod; ``NodeSpec`` describes one
node's capacity; ``Decision`` is the frozen result of one cycle (node plus GPU devices). The
live scheduler converts Pod and Node objects into these; the simulator reads them from traces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dockyard.scheduler.framework._status import SUCCESS, Status

GPU_MILLI_PER_DEVICE = 1000
"""Capacity of one GPU device in milli-GPU; a ``gpu_milli`` share is 1..1000 of it."""

MAX_GPU_KINDS = 9
"""GPU-pod kinds tracked per node: index 0 is 'share', index k (1..8) is 'k whole GPUs'."""


@dataclass(frozen=True, slots=True)
class PodRequest:
    """Resources one Pod asks for.

    ``gpu_milli`` is the share of *each* requested GPU (1000 = a whole device); a shared-GPU
    pod has ``gpu_count == 1`` and ``gpu_milli < 1000``. ``gpu_memory_mib`` is per device
    (0 = no GPU-memory request). ``gpu_models`` lists acceptable GPU models (empty = any),
    in the order given by the user.
    """

    name: str
    cpu_milli: int = 0
    memory_mib: int = 0
    gpu_count: int = 0
    gpu_milli: int = 0
    gpu_memory_mib: int = 0
    gpu_models: tuple[str, ...] = ()
    priority: int = 0

    @property
    def wants_gpu(self) -> bool:
        """True when the pod needs at least one GPU device."""
        return self.gpu_count > 0 and self.gpu_milli > 0

    @property
    def is_gpu_share(self) -> bool:
        """True for a pod that takes part of exactly one GPU."""
        return self.gpu_count == 1 and 0 < self.gpu_milli < GPU_MILLI_PER_DEVICE

    @property
    def total_gpu_milli(self) -> int:
        """GPU demand in milli-GPU (``gpu_milli x gpu_count``; 0 for CPU-only pods)."""
        return self.gpu_milli * self.gpu_count if self.wants_gpu else 0

    @property
    def kind(self) -> int:
        """GPU-pod kind used for clustering: -1 CPU-only, 0 shared, k = k whole GPUs."""
        if not self.wants_gpu:
            return -1
        if self.is_gpu_share:
            return 0
        return min(self.gpu_count, MAX_GPU_KINDS - 1)

    @property
    def shape(self) -> tuple[int, int, int, int, tuple[str, ...]]:
        """What placement depends on: (cpu, gpu milli, gpu count, gpu memory, models).

        Memory is excluded: it is only a filter. Two pods with one shape score the same
        on every node, which lets score plugins cache per shape.
        """
        return (
            self.cpu_milli,
            self.gpu_milli,
            self.gpu_count,
            self.gpu_memory_mib,
            self.gpu_models,
        )


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """Capacity of one node. ``gpu_memory_mib`` is per device (0 = not tracked)."""

    name: str
    cpu_milli: int
    memory_mib: int
    gpu_count: int = 0
    gpu_model: str = ""
    gpu_memory_mib: int = 0


@dataclass(frozen=True, slots=True)
class DeviceShare:
    """The part of one GPU device a pod gets: device index on its node, milli, memory."""

    index: int
    milli: int
    memory_mib: int = 0


@dataclass(frozen=True, slots=True)
class Decision:
    """Result of one scheduling cycle; applying it is a separate step.

    On success ``node`` names the node and ``devices`` the GPU shares on it (empty for a
    CPU-only pod). On failure ``node`` is ``None``, ``status`` says why, and
    ``rejections`` counts nodes per reason, as in "0/12 nodes are available: 8 insufficient
    gpu, 4 insufficient cpu".
    """

    pod: str
    node: str | None
    node_index: int = -1
    devices: tuple[DeviceShare, ...] = ()
    status: Status = SUCCESS
    total_nodes: int = 0
    rejections: Mapping[str, int] = field(default_factory=dict)

    @property
    def scheduled(self) -> bool:
        """True when the cycle chose a node."""
        return self.node is not None

    def explain(self) -> str:
        """kube-scheduler style summary of why the pod fits nowhere (empty on success)."""
        if self.scheduled:
            return ""
        parts = ", ".join(
            f"{n} {r}" for r, n in sorted(self.rejections.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        head = f"0/{self.total_nodes} nodes are available"
        if parts:
            return f"{head}: {parts}."
        msg = self.status.message()
        return f"{head}: {msg}." if msg else f"{head}."


GPU_DEVICES_ENV = "CUDA_VISIBLE_DEVICES"
GPU_MILLI_ENV = "DOCKYARD_GPU_MILLI"
GPU_MEMORY_ENV = "DOCKYARD_GPU_MEMORY_MIB"


def device_env(decision: Decision) -> dict[str, str]:
    """Environment a scheduled pod gets for its GPU assignment (empty for CPU-only pods).

    ``CUDA_VISIBLE_DEVICES`` lists the device indices on the node; ``DOCKYARD_GPU_MILLI``
    is the share of each device (1000 for whole GPUs); ``DOCKYARD_GPU_MEMORY_MIB`` is set
    when the pod asked for GPU memory.
    """
    if not decision.devices:
        return {}
    env = {
        GPU_DEVICES_ENV: ",".join(str(d.index) for d in decision.devices),
        GPU_MILLI_ENV: str(decision.devices[0].milli),
    }
    if decision.devices[0].memory_mib:
        env[GPU_MEMORY_ENV] = str(decision.devices[0].memory_mib)
    return env
