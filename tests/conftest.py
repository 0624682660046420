"""Shared fixtures: a real control plane on loopback with a real SQLite store and real
sandboxed Pods, and an HTTP client that carries its token."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dockyard.server import BackgroundControlPlane, ControlPlaneConfig
from dockyard.testing import DockyardUp, free_port


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundControlPlane]:
    data_dir = tmp_path_factory.mktemp("dockyard")
    config = ControlPlaneConfig(
        host="127.0.0.1", port=free_port(), data_dir=data_dir, virtual_nodes=2, virtual_gpus=2
    )
    with BackgroundControlPlane(config) as running:
        yield running


@pytest.fixture(scope="module")
def http(plane: BackgroundControlPlane) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=plane.url, headers={"Authorization": f"Bearer {plane.cp.token}"}, timeout=30
    ) as client:
        yield client


def wait_for_phase(
    http: httpx.Client,
    name: str,
    phases: tuple[str, ...] = ("Succeeded", "Failed"),
    timeout: float = 30.0,
    namespace: str = "default",
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        pod: dict[str, Any] = http.get(f"/api/v1/namespaces/{namespace}/pods/{name}").json()
        if pod.get("status", {}).get("phase") in phases:
            return pod
        if time.monotonic() > deadline:
            raise AssertionError(f"pod {name} stuck in {pod.get('status')}")
        time.sleep(0.02)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temporary directory the sandbox user can traverse (pytest's own are 0700)."""
    path = Path(tempfile.mkdtemp(prefix="dockyard-test-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def up(open_tmp: Path) -> Iterator[DockyardUp]:
    """``dockyard up`` as a child process on a fresh data directory (not started yet)."""
    data_dir = open_tmp / "data"
    data_dir.mkdir()
    process = DockyardUp(data_dir)
    yield process
    if process.running():
        process.terminate()
