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
