"""``dockyard describe KIND NAME``: one object, explained for a human."""

from __future__ import annotations

from typing import Annotated

import typer

from dockyard.cli import _columns, _describe, _options, _output
from dockyard.cli._context import state_of
from dockyard.cli._refs import parse_targets


def describe(
    ctx: typer.Context,
    target: Annotated[list[str], typer.Argument(help="KIND NAME..., or KIND/NAME...")],
    namespace: _options.Namespace = None,
) -> None:
    """Show metadata, spec summary, status, conditions and containers of objects."""
    state = state_of(ctx)
    client = state.client()
    ns = state.namespace_for(namespace)
    for i, (kind, name) in enumerate(parse_targets(target)):
        info = client.resolve_kind(kind)
        obj = client.get(info, name, ns)
        if i:
            _output.write("\n")
        _output.write(_describe.describe(obj, info, _columns.utcnow()))
