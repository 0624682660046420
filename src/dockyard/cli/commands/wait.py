"""``dockyard wait KIND/NAME --for=... --timeout=30s``: block until objects reach a state.

Exits 0 once every object meets the condition (printing ``pod/NAME condition met``), and 1
with the actual state otherwise: on timeout, or as soon as the object reaches a final phase
that is not the one waited for.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from dockyard.cli import _options, _output
from dockyard.cli._context import state_of
from dockyard.cli._refs import parse_duration, parse_targets, parse_wait_for


def wait(
    ctx: typer.Context,
    target: Annotated[list[str], typer.Argument(help="KIND/NAME..., or KIND NAME...")],
    for_: Annotated[
        str,
        typer.Option(
            "--for", help="phase=PHASE, condition=TYPE[=STATUS] (e.g. condition=Ready), or delete."
        ),
    ],
    timeout: Annotated[
        str, typer.Option("--timeout", help="How long to wait: 30s, 2m, 1h, or seconds.")
    ] = "30s",
    namespace: _options.Namespace = None,
) -> None:
    """Wait for objects to reach a phase, a condition, or deletion."""
    wanted = parse_wait_for(for_)
    seconds = parse_duration(timeout)
    targets = parse_targets(target)
    state = state_of(ctx)
    client = state.client()
    ns = state.namespace_for(namespace)
    deadline = time.monotonic() + seconds
    out = _output.stdout()
    for i, (kind, name) in enumerate(targets):
        info = client.resolve_kind(kind)
        # One deadline for all targets; the first gets exactly --timeout so messages quote it.
        remaining = seconds if i == 0 else max(0.0, deadline - time.monotonic())
        client.wait_for(info, name, ns, timeout=remaining, **wanted.kwargs)
        out.print(f"{info.display_name}/{name} condition met", markup=False, highlight=False)
