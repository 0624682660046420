"""The ``dockyard`` command line: the typer app, its global options, and error handling.

Sits on top of the SDK (:mod:`dockyard.client`); only ``up`` reaches into the server
package, lazily. Every command's failures come back here: SDK and input errors are printed
kubectl-style on stderr with exit code 1, a refused connection with a hint to run
``dockyard up``, and Ctrl-C exits 130 without a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec

import typer

from dockyard.cli import _output
from dockyard.cli._context import state_of
from dockyard.cli._errors import CliError, report
from dockyard.cli.commands import (
    apply,
    bench,
    delete,
    demo,
    describe,
    get,
    kinds,
    logs,
    up,
    version,
    wait,
)
from dockyard.client import DockyardError
from dockyard.sandbox.cli import sandbox_app
from dockyard.serving.cli import app as serving_app
from dockyard.sim.cli import app as sim_app

EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130

P = ParamSpec("P")


def guarded(command: Callable[P, None]) -> Callable[P, None]:
    """Wrap a command so its errors become messages and exit codes instead of tracebacks."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except (DockyardError, CliError) as exc:
            report(exc, _output.stderr())
            raise typer.Exit(EXIT_FAILURE) from None
        except KeyboardInterrupt:
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return run


app = typer.Typer(
    name="dockyard",
    help="Dockyard: run data pipelines, training, inference and agent sandboxes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _global_options(
    ctx: typer.Context,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            "-s",
            envvar="DOCKYARD_SERVER",
            help="API server URL (default http://127.0.0.1:7420).",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="DOCKYARD_TOKEN",
            show_envvar=True,
            help="Bearer token (default: the token file in the data directory).",
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar="DOCKYARD_DATA_DIR",
            help="Data directory (default ~/.dockyard); its 'token' file is the credential.",
        ),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", "-n", help="Namespace for every command (default 'default')."),
    ] = None,
) -> None:
    """Global options; they come before the command: ``dockyard -n ml get pods``."""
    state = state_of(ctx)
    state.server = server or state.server
    state.token = token or state.token
    state.data_dir = data_dir or state.data_dir
    state.namespace = namespace or state.namespace
    ctx.call_on_close(state.close)


COMMANDS: list[tuple[str, Callable[..., None]]] = [
    ("up", up.up),
    ("apply", apply.apply),
    ("create", apply.create),
    ("get", get.get),
    ("describe", describe.describe),
    ("delete", delete.delete),
    ("logs", logs.logs),
    ("wait", wait.wait),
    ("version", version.version),
    ("api-resources", kinds.api_resources),
    ("demo", demo.demo),
]
for _name, _command in COMMANDS:
    app.command(_name)(guarded(_command))

# Feature areas that bring their own command groups.
app.add_typer(
    sim_app, name="sim", help="Replay cluster traces through the scheduler (FGD protocol)."
)
app.add_typer(sandbox_app, name="sandbox", help="Agent sandboxes: tenant API keys and benchmarks.")
app.add_typer(bench.bench_app, name="bench", help="Benchmarks of Dockyard's feature areas (JSON).")
app.add_typer(serving_app)  # serve emulate, gateway
