"""A step's host directories are 0755 (the sandbox user traverses them, nobody else may
write them) whatever the control plane's umask, for the first step and the ones after."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.workflows import _pods
from dockyard.workflows._pods import StepFiles


@pytest.fixture(params=[0o000, 0o022, 0o077], ids=["umask000", "umask022", "umask077"])
def umask(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The control plane's umask, as if it had been so since start-up."""
    monkeypatch.setattr(_pods, "_UMASK", request.param)
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_step_directories_are_0755_under_any_umask(tmp_path: Path, umask: int) -> None:
    first = StepFiles(tmp_path / "files", "uid-1", "wf-step-1")
    first.prepare([], None)
    second = StepFiles(tmp_path / "files", "uid-1", "wf-step-2")
    second.prepare([], "echo hi")
    for path in (first.workflow_dir.parent, first.workflow_dir, first.dir, second.dir):
        assert mode(path) == 0o755, (path, oct(mode(path)))
