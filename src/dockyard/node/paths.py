"""Where sandbox state directories live (Pods, agent sandboxes).

Sandboxed processes run as uid 65534, which must be able to traverse every directory
above their state directories. ``<data-dir>/<name>`` is used when that holds; otherwise
(e.g. the default ``~/.dockyard`` under a 0700 home) a per-data-dir directory under
``/var/lib/dockyard`` (root) or ``/var/tmp/dockyard-<uid>`` (other users) is used instead.
Secrets (tokens, API keys) stay in the data directory itself.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path


def _traversable_by_others(path: Path) -> bool:
    for directory in [path, *path.parents]:
        try:
            mode = directory.stat().st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH:
            return False
    return True


def state_root(data_dir: Path, name: str) -> Path:
    """The directory for sandbox state called ``name`` belonging to ``data_dir``."""
    data_dir = data_dir.resolve()
    preferred = data_dir / name
    if _traversable_by_others(data_dir):
        return preferred
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:10]
    if os.geteuid() == 0:
        base = Path("/var/lib/dockyard")
    else:
        base = Path("/var/tmp") / f"dockyard-{os.geteuid()}"
    fallback = base / f"{name}-{digest}"
    fallback.mkdir(parents=True, exist_ok=True)
    for directory in (base, fallback):
        os.chmod(directory, 0o711)
    return fallback


def pods_root(data_dir: Path) -> Path:
    """Where the node agent keeps Pod state directories."""
    return state_root(data_dir, "pods")


#: Memory-backed file system for directories that only live as long as their processes.
RUNTIME_BASE = Path("/dev/shm")


def _is_tmpfs(path: Path) -> bool:
    try:
        with open("/proc/self/mounts") as mounts:
            return any(line.split()[1:3] == [str(path), "tmpfs"] for line in mounts)
    except OSError:
        return False


def _own_private_dir(path: Path) -> bool:
    """Create ``path`` (0711) unless it exists; True when it is then a plain directory
    owned by this user that nobody else may write."""
    try:
        os.mkdir(path, 0o711)
    except FileExistsError:
        pass
    except OSError:
        return False
    info = os.lstat(path)
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.geteuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def runtime_root(data_dir: Path, name: str, fallback: Path) -> Path:
    """A directory called ``name`` for `data_dir`'s state that ends with its processes
    (sockets, pid records of running sandboxes), on a memory-backed file system so that
    creating and removing one per sandbox costs no disk inode work:
    ``/dev/shm/dockyard-<name>-<uid>-<digest>``, 0711, owned by this user. `fallback` (created
    0711) when /dev/shm is not a tmpfs here, or the directory exists but is not a plain
    directory owned by this user that nobody else may write (it is never trusted then)."""
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    path = RUNTIME_BASE / f"dockyard-{name}-{os.geteuid()}-{digest}"
    if _is_tmpfs(RUNTIME_BASE) and _own_private_dir(path):
        os.chmod(path, 0o711)
        return path
    fallback.mkdir(parents=True, exist_ok=True)
    os.chmod(fallback, 0o711)
    return fallback
