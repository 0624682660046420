"""``dockyard version``: the client's version and the server's."""

from __future__ import annotations

from typing import Annotated

import typer

from dockyard._version import __version__
from dockyard.cli import _output
from dockyard.cli._context import state_of
from dockyard.cli._errors import CliError


def version(
    ctx: typer.Context,
    client_only: Annotated[
        bool, typer.Option("--client", help="Only the client version; do not contact a server.")
    ] = False,
    output: Annotated[str | None, typer.Option("--output", "-o", help="json or yaml.")] = None,
) -> None:
    """Print the client and server versions."""
    if output not in (None, "json", "yaml"):
        raise CliError(f'unknown output format "{output}": use json or yaml')
    if output is None:
        _output.write(f"Client Version: {__version__}\n")
    server = None if client_only else state_of(ctx).client().version()
    if output is None:
        if server is not None:
            _output.write(f"Server Version: {server.get('version', '<unknown>')}\n")
        return
    data: dict[str, object] = {"clientVersion": {"version": __version__}}
    if server is not None:
        data["serverVersion"] = server
    _output.write(_output.to_json(data) if output == "json" else _output.to_yaml(data))
