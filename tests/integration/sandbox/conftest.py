"""Fixtures for the agent-sandbox tests: an E2B environment pointed at the real control
plane (`plane`), with one API key per tenant."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import free_port

from dockyard.control.placement import Placement
from dockyard.sandbox import SandboxService, issue_key
from dockyard.server import BackgroundControlPlane, ControlPlaneConfig
from dockyard.store import ObjectStore


def traversable(path: Path) -> Path:
    """Make `path` and its parents searchable by uid 65534 (pytest's base is 0700)."""
    for directory in (path, *path.parents):
        if directory == Path("/"):
            break
        mode = directory.stat().st_mode & 0o7777
        if mode & 0o001 == 0:
            os.chmod(directory, mode | 0o011)
    return path


def run_in_fresh_root(scenario: Callable[[Path], Awaitable[None]], timeout: float = 60) -> None:
    """Run `scenario(root)` in a new directory short enough for the sandboxes' Unix
    socket paths and searchable by the sandbox user; removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="dockyard-test-"))
    os.chmod(root, 0o711)
    try:
        asyncio.run(asyncio.wait_for(scenario(root), timeout))
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.asynccontextmanager
async def running_service(
    root: Path, placement: Placement | None = None, **options: Any
) -> AsyncIterator[SandboxService]:
    """A started `SandboxService` over a real store in `root` (`options` go to its
    constructor); on leaving, every sandbox still there is killed, the service stopped and
    the store closed."""
    store = ObjectStore(root / "state.db")
    service = SandboxService(store, root, placement=placement, **options)
    await service.start()
    try:
        yield service
    finally:
        for record in list(service.records.values()):
            if record.tenant is not None:  # pooled ones go with the service's stop
                await service.kill(record.tenant, record.sandbox_id)
        await service.stop()
        store.close()


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundControlPlane]:
    """A real control plane whose data directory sandboxes can reach."""
    data_dir = traversable(tmp_path_factory.mktemp("dockyard"))
    config = ControlPlaneConfig(host="127.0.0.1", port=free_port(), data_dir=data_dir)
    with BackgroundControlPlane(config) as running:
        yield running


@pytest.fixture(scope="module")
def api_key(plane: BackgroundControlPlane) -> str:
    return issue_key(plane.cp.data_dir, "acme")


@pytest.fixture(scope="module")
def other_key(plane: BackgroundControlPlane) -> str:
    return issue_key(plane.cp.data_dir, "globex")


@pytest.fixture(scope="module")
def e2b_env(plane: BackgroundControlPlane, api_key: str) -> Iterator[None]:
    patch = pytest.MonkeyPatch()
    patch.setenv("E2B_API_URL", plane.url)
    patch.setenv("E2B_SANDBOX_URL", plane.url)
    patch.setenv("E2B_VOLUME_API_URL", plane.url)
    patch.setenv("E2B_API_KEY", api_key)
    patch.delenv("E2B_DEBUG", raising=False)
    yield
    patch.undo()


@pytest.fixture(scope="module")
def e2b_http(plane: BackgroundControlPlane, api_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=plane.url, headers={"X-API-Key": api_key}, timeout=30) as client:
        yield client
