"""Fixtures for running real Pod sandboxes (bubblewrap, cgroups, uid 65534) in tests."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard.node.sandbox import PodSandbox, PodSandboxSpec


@pytest.fixture
def pod_root(tmp_path: Path) -> Path:
    """A directory for state dirs that uid 65534 can traverse (pytest's base is 0700)."""
    for directory in (tmp_path, *tmp_path.parents):
        if directory == Path("/"):
            break
        mode = directory.stat().st_mode & 0o7777
        if mode & 0o001 == 0:
            os.chmod(directory, mode | 0o011)
    return tmp_path


@pytest.fixture
def run_pod() -> Iterator[Callable[[PodSandboxSpec], PodSandbox]]:
    """Starts sandboxes and kills whatever is still running when the test ends."""
    started: list[PodSandbox] = []

    def start(spec: PodSandboxSpec) -> PodSandbox:
        sandbox = PodSandbox.start(spec)
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        with contextlib.suppress(Exception):
            sandbox.kill(grace_seconds=0)
