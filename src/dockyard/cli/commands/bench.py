"""``dockyard bench …``: one group for the benchmarks of each feature area.

Each area keeps its benchmark next to its code and registers the command here under its
own name (``dockyard bench sandbox``); the area's own group may offer it too.
"""

from __future__ import annotations

import typer

from dockyard.sandbox.cli import bench_command as sandbox_bench
from dockyard.serving.cli import bench_gateway, bench_gateway_overhead

bench_app = typer.Typer(
    help="Benchmarks of Dockyard's feature areas, written as JSON.", no_args_is_help=True
)
bench_app.command("sandbox")(sandbox_bench)
bench_app.command("gateway")(bench_gateway)
bench_app.command("gateway-overhead")(bench_gateway_overhead)
