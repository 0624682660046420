"""Turns the records a Pod's supervisor wrote under state_dir into a `SandboxStatus`.

Node layer. The node agent polls `PodSandbox.status()`, which lands here: it only reads small
files, so it is cheap and works the same for a sandbox this process started and for one it
adopted after a restart. When the sandbox died without finishing its records (killed hard),
containers still recorded as running are reported as terminated.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from dockyard.node.sandbox._layout import StateLayout
from dockyard.node.sandbox._spec import ContainerState, SandboxStatus

# Exit status a shell reports for a process killed by SIGKILL (128 + 9).
KILLED_EXIT_CODE = 137
_LOG_TAIL_BYTES = 2048


_RECORD_TAIL_BYTES = 8192


def read_record(path: Path) -> dict[str, str] | None:
    """The latest record in `path`, or None when none is complete (yet).

    The supervisor appends one line per record, tab-separated `key=value` fields; the last
    complete line wins and a line still being written (no newline yet) is ignored. A file
    without tabs is the older whole-file form, one `key=value` per line.
    """
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - _RECORD_TAIL_BYTES))
            data = handle.read()
    except FileNotFoundError:
        return None
    text = data[: data.rfind(b"\n") + 1].decode(errors="replace")
    if not text:
        return None
    lines = text.splitlines()
    if "\t" in text:
        lines = lines[-1].split("\t")
    record: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep:
            record[key] = value
    return record


def format_record(**fields: str) -> str:
    """One record line as the supervisor appends it (see `read_record`)."""
    return "\t".join(f"{key}={value}" for key, value in fields.items()) + "\n"


def boot_seconds() -> float:
    """Now, in the clock the records use (seconds since boot, as in /proc/uptime)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def _time(value: str | None) -> datetime | None:
    """A record time (seconds since boot) as a wall-clock datetime."""
    if not value:
        return None
    try:
        since_boot = float(value)
    except ValueError:
        return None
    return datetime.fromtimestamp(time.time() - boot_seconds() + since_boot, tz=UTC)


def _int(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _container(
    layout: StateLayout, name: str, waiting_reason: str, dead_at: datetime | None
) -> ContainerState:
    rec = read_record(layout.container_record(name))
    if rec is None:
        return ContainerState(name, "waiting", None, 0, None, None, waiting_reason)
    state = rec.get("state", "waiting")
    cs = ContainerState(
        name=name,
        state="waiting",
        exit_code=_int(rec.get("exit_code")),
        restart_count=_int(rec.get("restart_count")) or 0,
        started_at=_time(rec.get("started_boot")),
        finished_at=_time(rec.get("finished_boot")),
        reason=rec.get("reason") or None,
        last_exit_code=_int(rec.get("last_exit_code")),
    )
    if state == "running":
        cs.state = "running"
    elif state == "terminated":
        cs.state = "terminated"
    if dead_at is not None and cs.state != "terminated":
        # The sandbox is gone, so nothing is running or will restart.
        if cs.state == "running":
            cs.exit_code = KILLED_EXIT_CODE
        else:
            cs.exit_code = cs.last_exit_code
        cs.state = "terminated"
        cs.reason = "Error"
        cs.finished_at = cs.finished_at or dead_at
    return cs


def _log_tail(path: Path) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - _LOG_TAIL_BYTES))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def read_status(
    layout: StateLayout,
    init_names: list[str],
    app_names: list[str],
    alive: bool,
    cgroup_oom_kills: int,
) -> SandboxStatus:
    """The Pod's status from its records. `alive`: whether the supervisor still runs;
    `cgroup_oom_kills`: the Pod cgroup's OOM-kill counter (0 without cgroups)."""
    pod = read_record(layout.pod_record)
    finished = pod is not None or not alive
    finished_at = _time(pod.get("finished_boot")) if pod else None
    dead_at = None
    if not alive:
        dead_at = finished_at or datetime.now(tz=UTC)
    inits = [_container(layout, n, "PodInitializing", dead_at) for n in init_names]
    inits_done = all(c.state == "terminated" and c.exit_code == 0 for c in inits)
    app_waiting = "ContainerCreating" if inits_done else "PodInitializing"
    apps = [_container(layout, n, app_waiting, dead_at) for n in app_names]
    message = (pod.get("message") or None) if pod else None
    if pod is None and not alive:
        message = "sandbox exited without recording its end"
    if message and message.startswith("sandbox exited"):
        tail = _log_tail(layout.sandbox_log)
        if tail:
            message = f"{message}: {tail}"
    oom = cgroup_oom_kills > 0 or any(c.reason == "OOMKilled" for c in (*inits, *apps))
    return SandboxStatus(
        finished=finished,
        init_containers=inits,
        containers=apps,
        oom_killed=oom,
        message=message,
        finished_at=finished_at or dead_at,
    )
