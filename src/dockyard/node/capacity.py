"""What this node can offer to Pods: CPU, memory and GPUs.

Node layer. The node agent reports `host_capacity()` as the Node's capacity so the scheduler
never places more than the machine holds. When the node agent itself runs inside a cgroup
with limits (a container, a systemd slice), those limits are the real capacity, so the
smallest of the hardware amount and every limit on the way up the hierarchy wins.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.node.gpus import GpuDevice, discover_gpus

# v1 reports "no limit" as a huge page-aligned number rather than "max".
_V1_UNLIMITED = 1 << 60


@dataclass(frozen=True)
class HostCapacity:
    cpu_millis: int
    memory_bytes: int
    gpus: list[GpuDevice] = field(default_factory=list)


def host_capacity(
    proc: Path = Path("/proc"),
    cgroup_root: Path = Path("/sys/fs/cgroup"),
    gpus: list[GpuDevice] | None = None,
) -> HostCapacity:
    """This node's capacity; `proc`, `cgroup_root` and `gpus` are replaceable for tests."""
    cpu_millis = _cpu_count() * 1000
    cpu_limit = _cgroup_cpu_millis(proc, cgroup_root)
    if cpu_limit is not None:
        cpu_millis = min(cpu_millis, cpu_limit)
    memory = _meminfo_total(proc)
    mem_limit = _cgroup_memory(proc, cgroup_root)
    if mem_limit is not None:
        memory = min(memory, mem_limit)
    return HostCapacity(
        cpu_millis=cpu_millis,
        memory_bytes=memory,
        gpus=discover_gpus() if gpus is None else gpus,
    )


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _meminfo_total(proc: Path) -> int:
    for line in (proc / "meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no MemTotal in {proc / 'meminfo'}")


def _own_cgroups(proc: Path) -> dict[str, str]:
    """Controller ("" for the unified hierarchy) -> this process's cgroup path."""
    paths: dict[str, str] = {}
    try:
        text = (proc / "self" / "cgroup").read_text()
    except OSError:
        return paths
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(",") if parts[1] else [""]:
            paths[controller] = parts[2]
    return paths


def _chain(base: Path, rel: str) -> list[Path]:
    """`base/rel` and each of its ancestors up to `base` (where limits may also be set)."""
    current = base / rel.lstrip("/")
    out = [current]
    while current != base and base in current.parents:
        current = current.parent
        out.append(current)
    return out


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _unified(cgroup_root: Path) -> bool:
    return (cgroup_root / "cgroup.controllers").exists()


def _cgroup_memory(proc: Path, cgroup_root: Path) -> int | None:
    own = _own_cgroups(proc)
    limits: list[int] = []
    if _unified(cgroup_root) and "" in own:
        for d in _chain(cgroup_root, own[""]):
            value = _read(d / "memory.max")
            if value and value != "max":
                limits.append(int(value))
    elif "memory" in own:
        for d in _chain(cgroup_root / "memory", own["memory"]):
            value = _read(d / "memory.limit_in_bytes")
            if value and int(value) < _V1_UNLIMITED:
                limits.append(int(value))
    return min(limits) if limits else None


def _cgroup_cpu_millis(proc: Path, cgroup_root: Path) -> int | None:
    own = _own_cgroups(proc)
    limits: list[int] = []
    if _unified(cgroup_root) and "" in own:
        for d in _chain(cgroup_root, own[""]):
            value = _read(d / "cpu.max")
            if value:
                quota, _, period = value.partition(" ")
                if quota != "max" and period:
                    limits.append(int(quota) * 1000 // int(period))
    elif "cpu" in own:
        for d in _chain(cgroup_root / "cpu", own["cpu"]):
            v1_quota, v1_period = _read(d / "cpu.cfs_quota_us"), _read(d / "cpu.cfs_period_us")
            if v1_quota and v1_period and int(v1_quota) > 0:
                limits.append(int(v1_quota) * 1000 // int(v1_period))
    return min(limits) if limits else None
