"""What this machine offers to Pods: CPUs, memory and GPUs."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from dockyard.node.gpus import GpuDevice, discover_gpus


@dataclass(frozen=True)
class HostCapacity:
    cpu_millis: int
    memory_bytes: int
    gpus: list[GpuDevice] = field(default_factory=list)


def host_capacity() -> HostCapacity:
    cpus = len(os.sched_getaffinity(0))
    memory = 0
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    return HostCapacity(cpu_millis=cpus * 1000, memory_bytes=memory, gpus=discover_gpus())
