"""Runs ``dockyard`` commands in-process against the fake API, through the real SDK."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fake_api import FakeApi
from typer.testing import CliRunner, Result

from dockyard.cli import app
from dockyard.cli._context import CliState

NOW = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(
    minutes=5
)  # five minutes after the fake's objects


@dataclass
class Cli:
    """Runs ``dockyard ARGS...`` against the fake API and returns the result."""

    fake: FakeApi
    runner: CliRunner = field(default_factory=CliRunner)

    def __call__(self, *args: str, input: str | None = None) -> Result:
        obj = CliState(transport=self.fake.transport, server="http://dockyard.test")
        return self.runner.invoke(app, list(args), input=input, obj=obj, catch_exceptions=False)


def lines(text: str) -> list[str]:
    """Output lines with trailing blanks removed."""
    return [line.rstrip() for line in text.strip("\n").splitlines()]
