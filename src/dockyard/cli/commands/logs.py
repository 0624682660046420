"""``dockyard logs [-f] [-c CONTAINER] pod/NAME``: print (or follow) a Pod's log."""

from __future__ import annotations

from typing import Annotated

import typer

from dockyard.cli import _options, _output
from dockyard.cli._context import state_of
from dockyard.cli._refs import parse_pod


def logs(
    ctx: typer.Context,
    pod: Annotated[str, typer.Argument(help="NAME or pod/NAME.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing as the log grows.")
    ] = False,
    container: Annotated[
        str | None, typer.Option("--container", "-c", help="Container (default: the first).")
    ] = None,
    tail: Annotated[
        int | None, typer.Option("--tail", min=0, help="Only the last N lines.")
    ] = None,
    namespace: _options.Namespace = None,
) -> None:
    """Print the log of a Pod's container."""
    state = state_of(ctx)
    name = parse_pod(pod)
    client = state.client()
    for chunk in client.logs(
        name, state.namespace_for(namespace), container=container, follow=follow, tail_lines=tail
    ):
        _output.write(chunk)
