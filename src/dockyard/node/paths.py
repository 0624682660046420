"""Where Pod state directories live.

Sandboxed processes run as uid 65534, which must be able to traverse every directory
above a Pod's state directory. ``<data-dir>/pods`` is used when that holds; otherwise
(e.g. the default ``~/.dockyard`` under a 0700 home) a per-data-dir directory under
``/var/lib/dockyard`` (root) or ``/var/tmp`` (other users) is used instead.
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


def pods_root(data_dir: Path) -> Path:
    data_dir = data_dir.resolve()
    preferred = data_dir / "pods"
    if _traversable_by_others(data_dir):
        return preferred
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:10]
    base = (
        Path("/var/lib/dockyard")
        if os.geteuid() == 0
        else Path("/var/tmp") / f"dockyard-{os.geteuid()}"
    )
    fallback = base / f"pods-{digest}"
    fallback.mkdir(parents=True, exist_ok=True)
    for directory in (base, fallback):
        os.chmod(directory, 0o711)
    return fallback
