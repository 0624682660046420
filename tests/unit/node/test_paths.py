"""State roots stay reachable by the sandbox user (uid 65534)."""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.node.paths import pods_root, state_root


def test_traversable_data_dir_is_used_directly(tmp_path: Path) -> None:
    open_dir = Path("/tmp") / f"dockyard-paths-{os.getpid()}"
    open_dir.mkdir(mode=0o755, exist_ok=True)
    os.chmod(open_dir, 0o755)
    assert pods_root(open_dir) == open_dir.resolve() / "pods"
    open_dir.rmdir()


def test_private_data_dir_falls_back_to_a_reachable_root(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    os.chmod(tmp_path, 0o700)
    root = state_root(private, "sandbox")
    assert not str(root).startswith(str(private))
    assert root.name.startswith("sandbox-") and root.is_dir()
    # every directory above it is searchable by others
    for directory in [root, *root.parents]:
        assert directory.stat().st_mode & 0o001
    assert state_root(private, "sandbox") == root  # stable per data dir
