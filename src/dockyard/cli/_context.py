"""Per-invocation state of the CLI: global options and the one SDK client built from them.

The root callback fills a :class:`CliState`; commands ask it for a client. Tests inject a
transport by passing ``obj=CliState(transport=...)`` to the runner, so every command runs
against a fake API through the real SDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx
import typer

from dockyard.client import Client


@dataclass
class CliState:
    """Global options, and the lazily built :class:`~dockyard.client.Client`."""

    server: str | None = None
    token: str | None = None
    data_dir: Path | None = None
    namespace: str | None = None
    transport: httpx.BaseTransport | None = None
    _client: Client | None = field(default=None, repr=False)

    def client(self) -> Client:
        """The client for this invocation, built on first use and closed at exit."""
        if self._client is None:
            self._client = Client(
                server=self.server,
                token=self.token,
                data_dir=self.data_dir,
                transport=self.transport,
            )
        return self._client

    def close(self) -> None:
        """Close the client if one was built."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def namespace_for(self, option: str | None) -> str:
        """The namespace a command works in: its own ``-n``, else the global one, else default."""
        return option or self.namespace or "default"

    def explicit_namespace(self, option: str | None) -> str | None:
        """The namespace the user asked for on the command line, if any."""
        return option or self.namespace


def state_of(ctx: typer.Context) -> CliState:
    """The :class:`CliState` of this invocation (created when absent)."""
    state = ctx.find_object(CliState)
    if state is None:
        state = ctx.ensure_object(CliState)
    return state
