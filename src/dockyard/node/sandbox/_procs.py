"""Reading /proc: process identity (pid + start time), liveness and descendants.

Node layer. A Pod's supervisor may outlive the control plane that started it, so the node
agent finds it again by pid. A pid alone can be reused by an unrelated process; the pair
(pid, start time in clock ticks since boot, field 22 of /proc/<pid>/stat) cannot.
"""

from __future__ import annotations

import os
from pathlib import Path

_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    # Often on hot paths: no pathlib and no file object here, one read() (the line is far
    # shorter than the buffer).
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    try:
        raw = os.read(fd, 4096).decode(errors="replace")
    except ProcessLookupError:  # it ended between the open and the read
        return None
    finally:
        os.close(fd)
    # comm (field 2) is parenthesised and may contain spaces; split after its last ")".
    head, _, rest = raw.rpartition(")")
    if not head:
        return None
    return rest.split()  # rest[0] is field 3 (state)


def start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot, or None if there is no such process."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def is_running(pid: int, started: int | None) -> bool:
    """True when `pid` exists, is not a zombie, and (if given) started at `started`."""
    fields = _stat_fields(pid)
    if not fields or fields[0] in ("Z", "X", "x"):
        return False
    return started is None or int(fields[19]) == started


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time `pid` used (user + system), with that of the children it reaped; 0 when
    there is no such process."""
    fields = _stat_fields(pid)
    if not fields or len(fields) < 15:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / _TICKS  # fields 14-17: utime .. cstime


def parent_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def children_of(pid: int) -> list[int]:
    """Direct children of `pid` (from /proc/<pid>/task/*/children, else a /proc scan)."""
    try:
        found: list[int] = []
        for task in (_PROC / str(pid) / "task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
        return found
    except (FileNotFoundError, NotADirectoryError, ProcessLookupError):
        return []
    except OSError:
        return [p for p in _all_pids() if parent_of(p) == pid]


def descendants_of(pid: int) -> list[int]:
    """All descendants of `pid`, parents before children."""
    out: list[int] = []
    frontier = [pid]
    while frontier:
        nxt: list[int] = []
        for p in frontier:
            kids = children_of(p)
            out += kids
            nxt += kids
        frontier = nxt
    return out


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir(_PROC) if name.isdigit()]
