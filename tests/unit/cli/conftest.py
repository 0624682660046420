"""Fixtures for CLI tests: the real ``dockyard`` app, the real SDK, the fake API.

The fake API lives with the SDK tests; its directory is put on ``sys.path`` here so both
suites exercise the same fake server.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "client"))

from cli_runner import NOW, Cli
from fake_api import FakeApi

from dockyard.cli import _columns


@pytest.fixture
def fake() -> FakeApi:
    return FakeApi()


@pytest.fixture
def cli(fake: FakeApi, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setattr(_columns, "utcnow", lambda: NOW)
    for var in ("DOCKYARD_SERVER", "DOCKYARD_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DOCKYARD_DATA_DIR", "/nonexistent")
    return Cli(fake)
