"""What a running sandbox uses: CPU, memory and home-directory disk, sampled every few
seconds and kept for an hour (E2B's ``get_metrics``).

Sandbox feature. Everything is read on the host, never from inside the sandbox:

* CPU: cgroup v2's ``cpu.stat`` ``usage_usec``; on cgroup v1 (where Dockyard does not join
  sandboxes to a cpuacct hierarchy) the user and system time of every process in the
  sandbox's cgroup, plus what they collected from children they reaped
  (`process_cpu_seconds`). The percentage is
  of the sandbox's CPU limit over the time since the previous sample.
* Memory: the cgroup's usage, split into page cache (which includes the home tmpfs) and
  the rest; the total is the sandbox's memory limit.
* Disk: ``statvfs`` of the home directory, through ``/proc/<pid>/root`` of a process in
  the sandbox's own mount namespace.

Samples live in memory: a control-plane restart starts the series afresh.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import struct
from collections import deque
from dataclasses import dataclass
from typing import Any

from dockyard.node.sandbox.isolation import PodCgroup, process_cpu_seconds
from dockyard.sandbox._times import to_iso

#: How often the service samples each running sandbox (E2B samples every 5 s).
INTERVAL_SECONDS = 5.0
#: Samples kept per sandbox: an hour's worth.
KEEP = 720
_OWN_MOUNT_NS = os.readlink("/proc/self/ns/mnt")


@dataclass(frozen=True)
class Usage:
    """Raw counters of one sandbox at one moment."""

    cpu_seconds: float
    memory_bytes: int
    cache_bytes: int
    disk_used: int
    disk_total: int


@dataclass(frozen=True)
class Metric:
    """One sample, as E2B reports it."""

    timestamp: float
    cpu_count: int
    cpu_used_pct: float
    mem_used: int
    mem_total: int
    mem_cache: int
    disk_used: int
    disk_total: int

    def to_json(self) -> dict[str, Any]:
        return {
            "timestamp": to_iso(self.timestamp),
            "timestampUnix": int(self.timestamp),
            "cpuCount": self.cpu_count,
            "cpuUsedPct": self.cpu_used_pct,
            "memUsed": self.mem_used,
            "memTotal": self.mem_total,
            "memCache": self.mem_cache,
            "diskUsed": self.disk_used,
            "diskTotal": self.disk_total,
        }


def _read(path: str) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 65536).decode()
    finally:
        os.close(fd)


def _stat_fields(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            out[key] = int(value)
    return out


def _inside(pids: list[int]) -> int | None:
    """A pid of `pids` in a mount namespace other than this process's (the sandbox's)."""
    for pid in pids:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/ns/mnt") != _OWN_MOUNT_NS:
                return pid
    return None


def read_usage(cgroup: PodCgroup, home: str = "/home/user") -> Usage | None:
    """The sandbox's counters now; None when its cgroup is gone."""
    pids = cgroup.pids()
    if not pids:
        return None
    memory = cache = 0
    if cgroup.driver == "v2":
        base = str(cgroup.dirs[0])
        with contextlib.suppress(OSError, ValueError):
            memory = int(_read(f"{base}/memory.current"))
            cache = _stat_fields(_read(f"{base}/memory.stat")).get("file", 0)
        cpu_seconds = _v2_cpu_seconds(base)
    else:
        for directory in cgroup.dirs:  # the memory hierarchy's, wherever it is listed
            try:
                memory = int(_read(f"{directory}/memory.usage_in_bytes"))
            except (OSError, ValueError):
                continue
            stat = _stat_fields(_read(f"{directory}/memory.stat"))
            cache = stat.get("total_cache", stat.get("cache", 0))
            break
        cpu_seconds = sum(process_cpu_seconds(pid) for pid in pids)
    disk_used = disk_total = 0
    pid = _inside(pids)
    if pid is not None:
        with contextlib.suppress(OSError):
            fs = os.statvfs(f"/proc/{pid}/root{home}")
            disk_total = fs.f_blocks * fs.f_frsize
            disk_used = (fs.f_blocks - fs.f_bfree) * fs.f_frsize
    return Usage(cpu_seconds, memory, min(cache, memory), disk_used, disk_total)


#: A sample as kept: eight numbers packed into 64 bytes, as a thousand sandboxes keep 720
#: samples each (`python bench/sandbox_metrics_memory.py`: 109 bytes a sample with the
#: bytes object and its deque slot, 77 KiB a sandbox-hour; Metric objects take 254 KiB).
_PACKED = struct.Struct("dqdqqqqq")


def cpu_baseline(cgroup: PodCgroup) -> float:
    """The CPU seconds the sandbox's counter shows before it runs for its tenant: cgroup
    v2's ``usage_usec`` covers the cgroup's whole life (a reused one's earlier sandboxes
    included); on v1 the counter is its processes' own times, which start at zero."""
    if cgroup.driver != "v2" or not cgroup.dirs:
        return 0.0
    return _v2_cpu_seconds(str(cgroup.dirs[0]))


def _v2_cpu_seconds(directory: str) -> float:
    """cgroup v2's ``usage_usec`` in `directory`, in seconds (0 when unreadable)."""
    try:
        return _stat_fields(_read(f"{directory}/cpu.stat"))["usage_usec"] / 1e6
    except (OSError, KeyError):
        return 0.0


class MetricsHistory:
    """One sandbox's samples, oldest first, at most `KEEP`."""

    def __init__(self, started_at: float, cpu_seconds: float = 0.0) -> None:
        self._samples: deque[bytes] = deque(maxlen=KEEP)
        self._previous: tuple[float, float] = (started_at, cpu_seconds)  # (time, cpu)

    def rebase(self, now: float, cpu_seconds: float) -> None:
        """Count CPU from `cpu_seconds` at `now` (the sandbox runs in a new box)."""
        self._previous = (now, cpu_seconds)

    def __len__(self) -> int:
        return len(self._samples)

    def latest(self) -> Metric | None:
        return Metric(*_PACKED.unpack(self._samples[-1])) if self._samples else None

    def add(self, now: float, usage: Usage, cpu_millis: int, memory_limit: int) -> Metric:
        """Record `usage` read at `now`; the CPU percentage is over the time since the
        previous sample (the first: since the sandbox started)."""
        before, cpu_before = self._previous
        cpus = max(1.0, cpu_millis / 1000)
        elapsed = now - before
        busy = max(0.0, usage.cpu_seconds - cpu_before)
        pct = min(100.0, 100.0 * busy / (elapsed * cpus)) if elapsed > 0 else 0.0
        self._previous = (now, usage.cpu_seconds)
        metric = Metric(
            timestamp=now,
            cpu_count=max(1, cpu_millis // 1000),
            cpu_used_pct=round(pct, 2),
            mem_used=usage.memory_bytes - usage.cache_bytes,
            mem_total=memory_limit,
            mem_cache=usage.cache_bytes,
            disk_used=usage.disk_used,
            disk_total=usage.disk_total,
        )
        self._samples.append(_PACKED.pack(*dataclasses.astuple(metric)))
        return metric

    def between(self, start: float | None, end: float | None) -> list[Metric]:
        out = []
        for packed in self._samples:
            metric = Metric(*_PACKED.unpack(packed))
            if (start is None or metric.timestamp >= start) and (
                end is None or metric.timestamp <= end
            ):
                out.append(metric)
        return out
