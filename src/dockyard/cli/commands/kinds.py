"""``dockyard api-resources``: the kinds the server serves and the words that name them."""

from __future__ import annotations

import typer

from dockyard.cli import _output
from dockyard.cli._context import state_of


def api_resources(ctx: typer.Context) -> None:
    """List the kinds the server serves."""
    kinds = state_of(ctx).client().kinds()
    rows = [
        [k.resource, ",".join(k.short_names), k.api_version, str(k.namespaced).lower(), k.kind]
        for k in kinds
    ]
    headers = ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    _output.print_table(headers, rows)
