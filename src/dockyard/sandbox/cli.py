"""``dockyard sandbox …``: issue tenant API keys for the E2B-compatible API, run the
sandbox benchmark (also ``dockyard bench sandbox``)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from dockyard.sandbox._keys import issue_key

sandbox_app = typer.Typer(help="Agent sandboxes: API keys and benchmarks.", no_args_is_help=True)


@sandbox_app.command("issue-key")
def issue_key_command(
    tenant: str = typer.Argument(..., help="Tenant the key belongs to (a DNS label)."),
    data_dir: Path = typer.Option(Path("~/.dockyard"), help="The server's data directory."),
) -> None:
    """Print a new E2B API key (E2B_API_KEY) for TENANT; it is shown only once."""
    try:
        typer.echo(issue_key(data_dir.expanduser(), tenant))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


@sandbox_app.command("bench")
def bench_command(
    out: Path = typer.Option(Path("bench/results/sandbox.json"), help="Where the JSON goes."),
    samples: int = typer.Option(50, help="Samples per latency measurement."),
    pool: int = typer.Option(8, help="Warm pool size."),
    seconds: float = typer.Option(20.0, help="Duration of the elasticity run."),
    idle: int = typer.Option(100, help="Idle sandboxes kept alive at once."),
    state_mb: int = typer.Option(50, help="Python state hibernated and restored (MiB)."),
    workers: int = typer.Option(4, help="Concurrent clients in the elasticity run."),
) -> None:
    """Measure sandbox creation, pause/resume, hibernate/wake, elasticity and idle memory."""
    from dockyard.sandbox._bench import run_bench

    report = run_bench(out, samples, pool, seconds, idle, state_mb, workers)
    typer.echo(json.dumps(report["results"], indent=2))
