"""The ``dockyard`` command line (typer + rich, kubectl habits) over the Python SDK.

``main`` is the console-script entry point. Commands live in :mod:`dockyard.cli.commands`;
the app, global options and error reporting in :mod:`dockyard.cli._app`.
"""

from dockyard.cli._app import app


def main() -> None:
    """Run the ``dockyard`` command line."""
    app(prog_name="dockyard")


__all__ = ["app", "main"]
