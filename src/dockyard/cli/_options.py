"""Options shared by several commands, declared once so they read the same everywhere."""

from __future__ import annotations

from typing import Annotated

import typer

Namespace = Annotated[
    str | None,
    typer.Option(
        "--namespace", "-n", help="Namespace to use (default: the global -n, else 'default')."
    ),
]
AllNamespaces = Annotated[
    bool, typer.Option("--all-namespaces", "-A", help="Across every namespace.")
]
Selector = Annotated[
    str | None,
    typer.Option("--selector", "-l", help="Label selector, e.g. 'app=web,tier!=db'."),
]
Filenames = Annotated[
    list[str],
    typer.Option(
        "--filename", "-f", help="Manifest file, directory, or '-' for stdin (repeatable)."
    ),
]
