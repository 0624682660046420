"""Fixtures for CLI tests: the real ``dockyard`` app, the real SDK, the fake API.

The fake API lives with the SDK tests; its directory is put on ``sys.path`` here so both
suites exercise the same fake server.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "client"))

from fake_api import FakeApi

from dockyard.cli import _columns, app
from dockyard.cli._context import CliState

NOW = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=5)


@dataclass
class Cli:
    """Runs ``dockyard ARGS...`` against the fake API and returns the result."""

    fake: FakeApi
    runner: CliRunner = field(default_factory=CliRunner)

    def __call__(self, *args: str, input: str | None = None, **state: object) -> Result:
        obj = CliState(transport=self.fake.transport, server="http://dockyard.test")
        for key, value in state.items():
            setattr(obj, key, value)
        return self.runner.invoke(app, list(args), input=input, obj=obj, catch_exceptions=False)


@pytest.fixture
def fake() -> FakeApi:
    return FakeApi()


@pytest.fixture
def cli(fake: FakeApi, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setattr(_columns, "utcnow", lambda: NOW)
    for var in ("DOCKYARD_SERVER", "DOCKYARD_TOKEN", "DOCKYARD_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DOCKYARD_DATA_DIR", "/nonexistent")
    return Cli(fake)


def lines(text: str) -> list[str]:
    """Output lines with trailing blanks removed (rich pads table cells)."""
    return [line.rstrip() for line in text.strip("\n").splitlines()]
