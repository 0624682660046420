"""`CgroupPool`: emptied sandbox cgroups kept for the next sandbox of the same limits.

Sandbox feature, node side. Creating a cgroup (a directory in every v1 hierarchy, each
limit written) and removing it again cost the control plane more CPU than any other step
of a short-lived sandbox's life, and the kernel more work after the rmdir. A sandbox forked
by the nursery therefore gets a cgroup from this pool: one left by an earlier sandbox with
the same limits when there is one, else a new one. A cgroup comes back only once it holds
no process and is not frozen; anything else is removed. What the kernel still counts in a
returned cgroup (its OOM-kill counter, reclaimable kernel memory charged by the earlier
sandbox) is not part of the sandbox contract.

Names are ``sbx-<key>-<n>`` with the key of the nursery that owns the pool, so a control
plane that restarts removes the spare ones its predecessor left (`sweep`): populated cgroups
(sandboxes still running, adopted) refuse the rmdir and stay.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import uuid
from pathlib import Path

from dockyard.node.sandbox.isolation import (
    PodCgroup,
    SandboxLimits,
    cgroup_driver,
    cgroup_parents,
    create_pod_cgroup,
)

#: Spare cgroups kept at most (more are removed when returned).
MAX_SPARE = 256


class CgroupPool:
    def __init__(self, key: str, max_spare: int = MAX_SPARE) -> None:
        self.key = key
        self.max_spare = max_spare
        self._spare: dict[SandboxLimits, list[PodCgroup]] = {}
        self._limits: dict[Path, SandboxLimits] = {}  # of every cgroup handed out
        self._lock = threading.Lock()
        self._names = itertools.count()
        self._run = uuid.uuid4().hex[:6]

    def spare_count(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._spare.values())

    def spare(self, limits: SandboxLimits) -> PodCgroup | None:
        """A kept cgroup with `limits` (no process in it), or None when there is none
        (never blocks: `take` makes a new one)."""
        with self._lock:
            spare = self._spare.get(limits)
            return spare.pop() if spare else None

    def take(self, limits: SandboxLimits) -> tuple[PodCgroup, bool]:
        """A cgroup with `limits` and no process in it, and whether it is new (its
        first process must have its memory charges moved in: see `Nursery.spawn`).
        Raises SandboxError when none can be created."""
        kept = self.spare(limits)
        if kept is not None:
            return kept, False
        name = f"sbx-{self.key}-{self._run}{next(self._names)}"
        cgroup = create_pod_cgroup(name, limits, cgroup_driver())
        _move_charges(cgroup)
        if cgroup.dirs:
            with self._lock:
                self._limits[cgroup.dirs[0]] = limits
        return cgroup, True

    def owns(self, cgroup: PodCgroup) -> bool:
        with self._lock:
            return bool(cgroup.dirs) and cgroup.dirs[0] in self._limits

    def give_back(self, cgroup: PodCgroup, emptied: bool = False) -> None:
        """Keep a cgroup this pool handed out for the next sandbox with its limits once
        it is empty (`emptied`: the caller just saw it empty and thawed); removes it when
        it still holds processes, is frozen, is not this pool's, or the pool is full."""
        with self._lock:
            limits = self._limits.get(cgroup.dirs[0]) if cgroup.dirs else None
        if limits is not None and (emptied or (not cgroup.frozen() and not cgroup.pids())):
            with self._lock:
                if sum(len(v) for v in self._spare.values()) < self.max_spare:
                    self._spare.setdefault(limits, []).append(cgroup)
                    return
        with self._lock:
            if cgroup.dirs:
                self._limits.pop(cgroup.dirs[0], None)
        cgroup.remove()

    def clear(self) -> None:
        """Remove every spare cgroup."""
        with self._lock:
            spare = [c for group in self._spare.values() for c in group]
            self._spare.clear()
            for cgroup in spare:
                self._limits.pop(cgroup.dirs[0], None)
        for cgroup in spare:
            cgroup.remove()

    def sweep(self) -> None:
        """Remove the empty cgroups a previous pool with this key left; populated ones
        (sandboxes still running) stay."""
        for parent in cgroup_parents(cgroup_driver()):
            with contextlib.suppress(OSError):
                for leftover in parent.glob(f"pod-sbx-{self.key}-*"):
                    with contextlib.suppress(OSError):
                        leftover.rmdir()


def _move_charges(cgroup: PodCgroup) -> None:
    """v1: charge the memory a process touched before it joined to this cgroup (the
    nursery's child joins after the fork)."""
    for directory in cgroup.dirs:
        switch = directory / "memory.move_charge_at_immigrate"
        if switch.exists():
            with contextlib.suppress(OSError):
                switch.write_text("1")
