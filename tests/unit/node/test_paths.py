"""State roots stay reachable by the sandbox user (uid 65534)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dockyard.node import paths
from dockyard.node.paths import pods_root, runtime_root, state_root


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


def test_runtime_root_is_in_memory_and_private(tmp_path: Path) -> None:
    if not paths._is_tmpfs(paths.RUNTIME_BASE):
        pytest.skip("no tmpfs at /dev/shm on this machine")
    root = runtime_root(tmp_path, "test", tmp_path / "fallback")
    try:
        assert root.parent == paths.RUNTIME_BASE
        info = os.lstat(root)
        assert info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) == 0o711
        assert runtime_root(tmp_path, "test", tmp_path / "fallback") == root  # stable
        other = runtime_root(tmp_path / "other", "test", tmp_path / "fallback")
        assert other != root
        other.rmdir()
    finally:
        root.rmdir()


def test_runtime_root_never_trusts_a_directory_others_can_write(tmp_path: Path) -> None:
    if not paths._is_tmpfs(paths.RUNTIME_BASE):
        pytest.skip("no tmpfs at /dev/shm on this machine")
    squatted = runtime_root(tmp_path, "test", tmp_path / "unused")
    os.chmod(squatted, 0o777)
    try:
        fallback = tmp_path / "fallback"
        assert runtime_root(tmp_path, "test", fallback) == fallback
        assert fallback.is_dir() and stat.S_IMODE(fallback.stat().st_mode) == 0o711
    finally:
        squatted.rmdir()


def test_runtime_root_falls_back_without_tmpfs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paths, "RUNTIME_BASE", tmp_path / "not-a-mount")
    fallback = tmp_path / "fallback"
    assert runtime_root(tmp_path, "test", fallback) == fallback
    assert not (tmp_path / "not-a-mount").exists()
