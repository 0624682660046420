"""``dockyard demo``: hands over to the demo pipeline, imported only when it runs."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated

import typer


def demo(
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Where the demo keeps its state (default: a temp dir)."),
    ] = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the control plane and its data afterwards.")
    ] = False,
) -> None:
    """Start a control plane, run a small pipeline of Pods with live progress, summarise."""
    run_demo = importlib.import_module("dockyard.cli.demo").run_demo
    result = run_demo(data_dir=data_dir, keep=keep)
    if isinstance(result, int) and result:
        raise typer.Exit(result)
