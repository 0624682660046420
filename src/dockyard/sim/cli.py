"""``dockyard sim``: replay a trace with one policy, or compare policies over seeds.

Mounted by the main CLI as ``dockyard sim``; usable alone as ``python -m dockyard.sim``.
Bad input (missing file, unknown policy, bad seed range) exits with status 1 and a message
naming the option.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dockyard.scheduler.plugins import DEFAULT_POLICY, POLICIES
from dockyard.sim.compare import compare as run_compare
from dockyard.sim.compare import markdown_table
from dockyard.sim.expected import load_expected, workload_name
from dockyard.sim.replay import ReplayResult
from dockyard.sim.replay import replay as run_replay
from dockyard.sim.traces import TraceError, load_nodes, load_pods

app = typer.Typer(help="Trace-driven scheduling simulation.", no_args_is_help=True)

NodeList = Annotated[
    Path, typer.Option("--node-list", help="Node list CSV (sn,cpu_milli,memory_mib,gpu,model).")
]
Demand = Annotated[
    float, typer.Option("--demand", help="Stop arrivals at this multiple of the cluster's GPUs.")
]
Output = Annotated[str, typer.Option("-o", "--output", help="json or table.")]


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _check_file(option: str, path: Path) -> None:
    if not path.is_file():
        _fail(f"{option}: no such file: {path}")


def _check_policy(policy: str) -> None:
    if policy not in POLICIES:
        _fail(f"--policy: unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")


def _check_demand(demand: float) -> None:
    if not 0 < demand <= 10:
        _fail(f"--demand: must be in (0, 10], got {demand}")


def parse_seeds(text: str) -> list[int]:
    """``"42-51"`` or ``"42,43,50"`` (or a mix) → seeds; ``ValueError`` when malformed."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part[1:]:
            lo, hi = part.split("-", 1) if not part.startswith("-") else ("", part)
            a, b = int(lo), int(hi)
            if b < a:
                raise ValueError(f"empty range {part!r}")
            seeds.extend(range(a, b + 1))
        elif part:
            seeds.append(int(part))
    if not seeds:
        raise ValueError("no seeds")
    return seeds


@app.command()
def replay(
    node_list: NodeList,
    pod_list: Annotated[Path, typer.Option("--pod-list", help="Pod list CSV.")],
    seed: Annotated[
        int,
        typer.Option(
            "--seed", help="Seed for shuffle, resampling, tie-break order and the Random policy."
        ),
    ],
    policy: Annotated[
        str, typer.Option("--policy", help=f"One of {', '.join(POLICIES)}.")
    ] = DEFAULT_POLICY,
    demand: Demand = 1.3,
    output: Output = "json",
) -> None:
    """Replay one pod list onto the node list with one policy; print the result."""
    _check_file("--node-list", node_list)
    _check_file("--pod-list", pod_list)
    _check_policy(policy)
    _check_demand(demand)
    try:
        nodes, pods = load_nodes(node_list), load_pods(pod_list)
    except TraceError as exc:
        _fail(str(exc))
    result = run_replay(
        nodes, pods, seed=seed, policy=policy, demand=demand, workload=workload_name(pod_list)
    )
    if output == "json":
        typer.echo(json.dumps(result.to_json()))
    else:
        typer.echo(_replay_text(result))


def _replay_text(r: ReplayResult) -> str:
    return (
        f"{r.workload} {r.policy} seed {r.seed}: {r.pods_scheduled}/{r.pods_arrived} pods "
        f"placed on {r.total_gpus} GPUs; allocation {r.allocation_pct.get('100')}% @100%, "
        f"{r.allocation_pct.get('130')}% @130%; {r.wall_seconds}s "
        f"({r.pods_per_second:.0f} pods/s)"
    )


@app.command()
def compare(
    node_list: NodeList,
    pod_list: Annotated[
        list[Path], typer.Option("--pod-list", help="Pod list CSV (repeat for several).")
    ],
    policy: Annotated[
        list[str] | None, typer.Option("--policy", help="Repeat; default: all.")
    ] = None,
    seeds: Annotated[str, typer.Option("--seeds", help="e.g. 42-51 or 42,43.")] = "42-51",
    expected: Annotated[
        Path | None,
        typer.Option("--expected", help="Authors' analysis_allo_discrete.csv to compare with."),
    ] = None,
    demand: Demand = 1.3,
    output: Annotated[
        str, typer.Option("-o", "--output", help="json or table (markdown).")
    ] = "table",
) -> None:
    """Run policies x seeds x pod lists; print seed means beside the authors' numbers."""
    _check_file("--node-list", node_list)
    for path in pod_list:
        _check_file("--pod-list", path)
    policies = policy or list(POLICIES)
    for name in policies:
        _check_policy(name)
    _check_demand(demand)
    try:
        seed_list = parse_seeds(seeds)
    except ValueError as exc:
        _fail(f"--seeds: {exc}")
    if expected is not None:
        _check_file("--expected", expected)
    cached = load_expected(expected) if expected is not None else None
    total = len(pod_list) * len(policies) * len(seed_list)
    from rich.progress import Progress

    with Progress(transient=True, console=None) as bar:
        task = bar.add_task("replaying", total=total)
        rows = run_compare(
            node_list,
            pod_list,
            policies,
            seed_list,
            demand=demand,
            expected=cached,
            progress=lambda r: bar.advance(task),
        )
    if output == "json":
        typer.echo(json.dumps([r.to_json() for r in rows]))
    else:
        typer.echo(markdown_table(rows))
