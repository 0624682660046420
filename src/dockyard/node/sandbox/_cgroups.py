"""Per-Pod cgroups: resource limits, OOM accounting and kill-everything for one sandbox.

Node layer. `PodSandbox.start` creates one `PodCgroup` per Pod before anything of the Pod
runs; the launcher writes its own pid into `procs_files` so every process of the Pod is
accounted from its first instruction. The driver is detected at runtime:

- "v2": the unified hierarchy at /sys/fs/cgroup; one leaf `dockyard/pod-<uid>` with
  memory.max, memory.swap.max, cpu.max and pids.max (controllers enabled through
  cgroup.subtree_control on the way down).
- "v1": one `dockyard/pod-<uid>` directory in each of the memory, pids, cpu and (where
  mounted) freezer hierarchies.

`PodCgroup.freeze()` / `thaw()` stop and resume every process of a sandbox at once (v2
`cgroup.freeze`, v1 `freezer.state`): memory stays, CPU is released.
- "none": cgroups are not writable here; Pods run without limits (a warning is logged once).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dockyard.node.sandbox._spec import DEFAULT_PIDS_LIMIT, SandboxError, SandboxLimits

log = logging.getLogger(__name__)

Driver = Literal["v1", "v2", "none"]

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT_NAME = "dockyard"
CPU_PERIOD_US = 100_000
_V1_CONTROLLERS = ("memory", "pids", "cpu", "freezer")
_V2_CONTROLLERS = ("memory", "pids", "cpu")
# Processes take a moment to leave a cgroup after SIGKILL; rmdir fails with EBUSY until then.
_DRAIN_SECONDS = 3.0

_detected: Driver | None = None
# The v1 hierarchies found by the last detection (mounts do not move while we run).
_v1_mounts: dict[str, Path] = {}


def cgroup_driver(refresh: bool = False) -> Driver:
    """The cgroup driver this node uses ("v1", "v2" or "none"); detected once (again with
    `refresh=True`). `DOCKYARD_CGROUP_DRIVER=none` forces running without cgroups.
    """
    global _detected
    if _detected is None or refresh:
        _v1_mounts.clear()
        _detected = _detect()
        if _detected == "none":
            log.warning(
                "cgroups are not writable on this node: Pods run without memory, cpu and "
                "pids limits and OOM kills are not detected"
            )
    return _detected


def _detect() -> Driver:
    if os.environ.get("DOCKYARD_CGROUP_DRIVER") == "none":
        return "none"
    try:
        if (CGROUP_ROOT / "cgroup.controllers").exists():
            V2Layout(CGROUP_ROOT).ensure_parent()
            return "v2"
        mounts = v1_mounts()
        if "memory" in mounts and "pids" in mounts:
            V1Layout(mounts).ensure_parent()
            _v1_mounts.update(mounts)
            return "v1"
    except OSError as exc:
        log.warning("cgroup setup failed: %s", exc)
    return "none"


def v1_mounts(mountinfo: Path = Path("/proc/self/mountinfo")) -> dict[str, Path]:
    """Mount points of the v1 hierarchies of the controllers Dockyard uses."""
    found: dict[str, Path] = {}
    for line in mountinfo.read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if len(rfields) < 3 or rfields[0] != "cgroup":
            continue
        options = set(rfields[2].split(","))
        for controller in _V1_CONTROLLERS:
            if controller in options and controller not in found:
                found[controller] = Path(fields[4])
    return found


def _write(path: Path, value: str) -> None:
    # cgroup files reject partial or buffered writes; one write() per value.
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _oom_kills(path: Path | None) -> int:
    """The `oom_kill N` counter of v1 memory.oom_control or v2 memory.events; 0 if absent."""
    if path is None:
        return 0
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _read_pids(procs: Path) -> list[int]:
    try:
        return [int(p) for p in procs.read_text().split()]
    except (OSError, ValueError):
        return []


class OpenProcs:
    """A cgroup's cgroup.procs files, opened for writing. Opening never waits in the
    kernel; the writes may (cgroup v1 waits for an RCU grace period), so a caller on an
    event loop opens here and runs `join_and_close` on a worker thread."""

    def __init__(self, files: list[Path]) -> None:
        self._fds: list[int] = []
        try:
            for path in files:
                self._fds.append(os.open(path, os.O_WRONLY | os.O_CLOEXEC))
        except OSError:
            self._close()
            raise

    def join_and_close(self, pid: int) -> None:
        """Move process `pid` into the cgroup (one write() per hierarchy: cgroup files
        reject partial writes), then close the files, also when a write fails."""
        value = str(pid).encode()
        try:
            for fd in self._fds:
                os.write(fd, value)
        finally:
            self._close()

    def _close(self) -> None:
        fds, self._fds = self._fds, []
        for fd in fds:
            os.close(fd)


@dataclass
class PodCgroup:
    """The cgroup directories of one Pod and what the sandbox needs from them.

    `procs_files`: where the launcher writes its pid. `oom_file`: the counter file mounted
    read-only into the sandbox so the supervisor can tell OOM kills from other SIGKILLs.
    """

    driver: Driver
    dirs: list[Path] = field(default_factory=list)
    procs_files: list[Path] = field(default_factory=list)
    oom_file: Path | None = None
    kill_file: Path | None = None
    freeze_file: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "driver": self.driver,
            "dirs": [str(d) for d in self.dirs],
            "procs_files": [str(p) for p in self.procs_files],
            "oom_file": str(self.oom_file) if self.oom_file else None,
            "kill_file": str(self.kill_file) if self.kill_file else None,
            "freeze_file": str(self.freeze_file) if self.freeze_file else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PodCgroup:
        return cls(
            driver=data["driver"],
            dirs=[Path(d) for d in data["dirs"]],
            procs_files=[Path(p) for p in data["procs_files"]],
            oom_file=Path(data["oom_file"]) if data.get("oom_file") else None,
            kill_file=Path(data["kill_file"]) if data.get("kill_file") else None,
            freeze_file=Path(data["freeze_file"]) if data.get("freeze_file") else None,
        )

    def exists(self) -> bool:
        return any(d.is_dir() for d in self.dirs)

    def oom_kills(self) -> int:
        return _oom_kills(self.oom_file)

    def pids(self) -> list[int]:
        seen: set[int] = set()
        for procs in self.procs_files:
            seen.update(_read_pids(procs))
        return sorted(seen)

    def open_procs(self) -> OpenProcs:
        """Its cgroup.procs files opened for writing (never waits), to move a process in
        with `OpenProcs.join_and_close` (for sandboxes forked by a process outside the
        cgroup; launched Pods join through their launcher instead)."""
        return OpenProcs(self.procs_files)

    def has_processes(self) -> bool:
        """True when the cgroup holds a process (one read: every process joins all the
        hierarchies at once)."""
        if not self.procs_files:
            return False
        try:
            fd = os.open(self.procs_files[0], os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            return bool(os.read(fd, 16).strip())
        finally:
            os.close(fd)

    def can_freeze(self) -> bool:
        return self.freeze_file is not None and self.freeze_file.exists()

    def frozen(self) -> bool:
        """True when every process of the cgroup is frozen (v2 ``frozen 1`` in
        cgroup.events, v1 ``FROZEN`` in freezer.state)."""
        if self.freeze_file is None:
            return False
        try:
            if self.driver == "v2":
                events = (self.freeze_file.parent / "cgroup.events").read_text().split()
                return "frozen" in events and events[events.index("frozen") + 1] == "1"
            return self.freeze_file.read_text().strip() == "FROZEN"
        except (OSError, IndexError):
            return False

    def freeze(self, timeout: float = _DRAIN_SECONDS) -> None:
        """Stop every process of the cgroup; returns once the kernel reports them all
        frozen. Raises SandboxError without a freezer or when freezing does not complete
        within `timeout` (the cgroup is thawed again then)."""
        self._set_frozen(True, timeout)

    def thaw(self, timeout: float = _DRAIN_SECONDS) -> None:
        """Resume every process of the cgroup; idempotent."""
        self._set_frozen(False, timeout)

    def _set_frozen(self, frozen: bool, timeout: float) -> None:
        if not self.can_freeze() or self.freeze_file is None:
            raise SandboxError(f"cgroup driver {self.driver!r} has no freezer here")
        if self.driver == "v2":
            value = "1" if frozen else "0"
        else:
            value = "FROZEN" if frozen else "THAWED"
        deadline = time.monotonic() + timeout
        delay = 0.0002
        while True:
            try:
                # v1 answers FREEZING until every task stopped; writing again retries.
                _write(self.freeze_file, value)
            except OSError as exc:
                raise SandboxError(f"cannot write {self.freeze_file}: {exc}") from exc
            if self.frozen() == frozen:
                return
            if time.monotonic() > deadline:
                if frozen:
                    with contextlib.suppress(SandboxError):
                        self._set_frozen(False, timeout)
                raise SandboxError(f"cgroup {self.freeze_file.parent} did not freeze in time")
            time.sleep(delay)
            delay = min(delay * 2, 0.01)

    def kill_all(self) -> bool:
        """SIGKILL every process in the cgroup until it is empty; True once empty. A frozen
        cgroup is thawed first (v1 frozen tasks cannot die until they run again)."""
        if self.frozen():
            with contextlib.suppress(SandboxError):
                self.thaw()
        if self.kill_file is not None and self.kill_file.exists():
            with contextlib.suppress(OSError):
                _write(self.kill_file, "1")
        deadline = time.monotonic() + _DRAIN_SECONDS
        delay = 0.0005
        while True:
            pids = self.pids()
            if not pids:
                return True
            if time.monotonic() > deadline:
                return False
            # A forking process can add members while we iterate; loop until none are left
            # (the pids limit bounds how many can appear).
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            # Killed processes leave within a millisecond or two: poll soon, then back off.
            time.sleep(delay)
            delay = min(delay * 2, 0.01)

    def remove(self) -> bool:
        """Remove the Pod's cgroup directories; True when none is left."""
        deadline = time.monotonic() + _DRAIN_SECONDS
        delay = 0.0005
        left = [d for d in self.dirs if d.is_dir()]
        while left:
            still: list[Path] = []
            for d in left:
                try:
                    d.rmdir()
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        raise SandboxError(f"cannot remove cgroup {d}: {exc}") from exc
                    still.append(d)
            left = still
            if left:
                if time.monotonic() > deadline:
                    log.warning("cgroup still busy, left in place: %s", left)
                    return False
                time.sleep(delay)
                delay = min(delay * 2, 0.02)
        return True


class V2Layout:
    """Unified-hierarchy layout: `<root>/dockyard/pod-<key>` leaves."""

    def __init__(
        self,
        root: Path = CGROUP_ROOT,
        parent: str = PARENT_NAME,
        make_dir: Callable[[Path], None] | None = None,
    ) -> None:
        self.root = root
        self.parent = root / parent
        # Replaceable so tests can emulate the kernel populating a new cgroup directory.
        self._make_dir = make_dir or _fresh_dir

    def _enable(self, cgroup: Path) -> None:
        available = set((cgroup / "cgroup.controllers").read_text().split())
        enabled = set((cgroup / "cgroup.subtree_control").read_text().split())
        for controller in _V2_CONTROLLERS:
            if controller in available and controller not in enabled:
                try:
                    _write(cgroup / "cgroup.subtree_control", f"+{controller}")
                except OSError as exc:
                    log.warning(
                        "cannot enable cgroup controller %s in %s: %s", controller, cgroup, exc
                    )

    def ensure_parent(self) -> None:
        """Create the Dockyard parent and delegate controllers to it. Raises OSError when
        memory or pids cannot be delegated (the node then runs without cgroups)."""
        self._enable(self.root)
        self.parent.mkdir(exist_ok=True)
        self._enable(self.parent)
        enabled = set((self.parent / "cgroup.subtree_control").read_text().split())
        missing = {"memory", "pids"} - enabled
        if missing:
            raise OSError(f"controllers {sorted(missing)} cannot be enabled in {self.parent}")

    def create(self, key: str, limits: SandboxLimits) -> PodCgroup:
        leaf = self.parent / f"pod-{key}"
        self._make_dir(leaf)
        try:
            return self._configure(leaf, limits)
        except BaseException:
            with contextlib.suppress(OSError):
                leaf.rmdir()
            raise

    def _configure(self, leaf: Path, limits: SandboxLimits) -> PodCgroup:
        memory = "max" if limits.memory_bytes is None else str(limits.memory_bytes)
        _write(leaf / "memory.max", memory)
        if limits.memory_bytes is not None and (leaf / "memory.swap.max").exists():
            _write(leaf / "memory.swap.max", "0")
        if (leaf / "cpu.max").exists():
            quota = "max" if limits.cpu_millis is None else str(_cpu_quota_us(limits.cpu_millis))
            _write(leaf / "cpu.max", f"{quota} {CPU_PERIOD_US}")
        _write(leaf / "pids.max", str(limits.pids or DEFAULT_PIDS_LIMIT))
        return PodCgroup(
            driver="v2",
            dirs=[leaf],
            procs_files=[leaf / "cgroup.procs"],
            oom_file=leaf / "memory.events",
            kill_file=leaf / "cgroup.kill",
            freeze_file=leaf / "cgroup.freeze",
        )


class V1Layout:
    """Legacy layout: `<mount>/dockyard/pod-<key>` in the memory, pids and cpu hierarchies."""

    def __init__(
        self,
        mounts: dict[str, Path],
        parent: str = PARENT_NAME,
        make_dir: Callable[[Path], None] | None = None,
    ) -> None:
        self.mounts = mounts
        self.parent_name = parent
        self._make_dir = make_dir or _fresh_dir

    def ensure_parent(self) -> None:
        for mount in self.mounts.values():
            (mount / self.parent_name).mkdir(exist_ok=True)

    def create(self, key: str, limits: SandboxLimits) -> PodCgroup:
        dirs: dict[str, Path] = {}
        try:
            for controller, mount in self.mounts.items():
                d = mount / self.parent_name / f"pod-{key}"
                self._make_dir(d)
                dirs[controller] = d
            return self._configure(dirs, limits)
        except BaseException:
            for d in dirs.values():
                with contextlib.suppress(OSError):
                    d.rmdir()
            raise

    def _configure(self, dirs: dict[str, Path], limits: SandboxLimits) -> PodCgroup:
        mem = dirs["memory"]
        if limits.memory_bytes is not None:
            _write(mem / "memory.limit_in_bytes", str(limits.memory_bytes))
            # Without this, a Pod at its limit swaps instead of being OOM-killed.
            if (mem / "memory.memsw.limit_in_bytes").exists():
                _write(mem / "memory.memsw.limit_in_bytes", str(limits.memory_bytes))
            with contextlib.suppress(OSError):
                _write(mem / "memory.swappiness", "0")
        if "cpu" in dirs and limits.cpu_millis is not None:
            _write(dirs["cpu"] / "cpu.cfs_period_us", str(CPU_PERIOD_US))
            _write(dirs["cpu"] / "cpu.cfs_quota_us", str(_cpu_quota_us(limits.cpu_millis)))
        _write(dirs["pids"] / "pids.max", str(limits.pids or DEFAULT_PIDS_LIMIT))
        return PodCgroup(
            driver="v1",
            dirs=list(dirs.values()),
            procs_files=[d / "cgroup.procs" for d in dirs.values()],
            oom_file=mem / "memory.oom_control",
            freeze_file=dirs["freezer"] / "freezer.state" if "freezer" in dirs else None,
        )


def _cpu_quota_us(cpu_millis: int) -> int:
    # The kernel rejects quotas under 1 ms.
    return max(1000, cpu_millis * CPU_PERIOD_US // 1000)


def _fresh_dir(path: Path) -> None:
    """Create `path`; an empty leftover from a crashed run is recreated so no stale limits
    survive, a populated one is refused."""
    if path.is_dir():
        if _read_pids(path / "cgroup.procs"):
            raise SandboxError(f"cgroup {path} already holds processes")
        path.rmdir()
    path.mkdir()


def cgroup_parents(driver: Driver) -> list[Path]:
    """The Dockyard directory of each hierarchy the driver uses (none for "none")."""
    if driver == "v2":
        return [CGROUP_ROOT / PARENT_NAME]
    if driver == "v1":
        return [mount / PARENT_NAME for mount in v1_mounts().values()]
    return []


def create_pod_cgroup(key: str, limits: SandboxLimits, driver: Driver) -> PodCgroup:
    """Create the cgroup of one Pod with the given driver; raises SandboxError on failure."""
    try:
        if driver == "v2":
            return V2Layout().create(key, limits)
        if driver == "v1":
            return V1Layout(dict(_v1_mounts) or v1_mounts()).create(key, limits)
    except OSError as exc:
        raise SandboxError(f"cannot create cgroup for pod {key}: {exc}") from exc
    return PodCgroup(driver="none")
