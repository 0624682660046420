"""Kernel limits the node raises for its sandboxes when it prepares them, as node agents
raise theirs at start.

Sandbox runtime. Every sandbox on a host runs as the same user (65534), so per-user kernel
limits are shared by all of them: a sandbox that watches a directory holds an inotify
instance, and the kernel's default of 128 instances per user would let 128 sandboxes
watch on the whole host. `raise_limits` lifts such limits to what many sandboxes need; it never
lowers one, and does nothing without the right to (not root, or /proc/sys read-only).
Set ``DOCKYARD_KEEP_KERNEL_LIMITS=1`` to leave the host's settings alone.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("dockyard.sandbox")

#: sysctl file -> the least value sandboxes need.
WANTED = {
    "/proc/sys/fs/inotify/max_user_instances": 8192,
}
KEEP_ENV = "DOCKYARD_KEEP_KERNEL_LIMITS"


def raise_limit(path: Path, wanted: int) -> int | None:
    """Make the integer limit in `path` at least `wanted`; returns the value in effect
    afterwards (None when it cannot be read)."""
    try:
        current = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if current >= wanted:
        return current
    try:
        path.write_text(f"{wanted}\n")
    except OSError as exc:
        log.warning("cannot raise %s from %d to %d: %s", path, current, wanted, exc)
        return current
    log.info("raised %s from %d to %d for sandboxes", path, current, wanted)
    return wanted


def raise_limits(wanted: dict[str, int] | None = None) -> dict[str, int | None]:
    """`raise_limit` for each of `wanted` (default `WANTED`), unless the environment says
    to keep the host's limits; returns each limit in effect."""
    wanted = WANTED if wanted is None else wanted
    if os.environ.get(KEEP_ENV, "") not in ("", "0"):
        return {path: None for path in wanted}
    return {path: raise_limit(Path(path), value) for path, value in wanted.items()}
