"""Policy x seed x workload grid of replays, side by side with the authors' cached means.

``compare`` returns one ``CompareRow`` per (workload, policy): our seed-mean allocation at
each requested demand point, the authors' mean over the same seeds where they have one,
and the throughput of our runs. ``markdown_table`` renders the rows for the docs.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dockyard.sim.expected import ExpectedRun, expected_mean, workload_name
from dockyard.sim.replay import ReplayResult, replay
from dockyard.sim.traces import load_nodes, load_pods

Progress = Callable[[ReplayResult], None]


@dataclass(frozen=True)
class CompareRow:
    """Seed means of one policy on one workload (``ours``/``authors``: point → value)."""

    workload: str
    policy: str
    seeds: list[int]
    ours: dict[str, float]
    ours_sd: dict[str, float]
    authors: dict[str, float | None]
    frag_ours: dict[str, float]
    pods_per_second: float
    wall_seconds: float
    runs: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A plain dict for ``json.dumps``."""
        return asdict(self)


def _mean(xs: Sequence[float]) -> float:
    return round(statistics.fmean(xs), 2)


def compare(
    node_list: Path,
    pod_lists: Sequence[Path],
    policies: Sequence[str],
    seeds: Sequence[int],
    *,
    demand: float = 1.3,
    points: Sequence[int] = (100, 130),
    expected: list[ExpectedRun] | None = None,
    progress: Progress | None = None,
) -> list[CompareRow]:
    """Replay every (pod list, policy, seed) and summarise per (workload, policy)."""
    nodes = load_nodes(node_list)
    rows: list[CompareRow] = []
    for pod_list in pod_lists:
        pods = load_pods(pod_list)
        workload = workload_name(pod_list)
        for policy in policies:
            results = []
            for seed in seeds:
                r = replay(nodes, pods, seed=seed, policy=policy, demand=demand, workload=workload)
                results.append(r)
                if progress is not None:
                    progress(r)
            rows.append(_summarise(workload, policy, list(seeds), results, points, expected))
    return rows


def _summarise(
    workload: str,
    policy: str,
    seeds: list[int],
    results: list[ReplayResult],
    points: Sequence[int],
    expected: list[ExpectedRun] | None,
) -> CompareRow:
    ours: dict[str, float] = {}
    sd: dict[str, float] = {}
    frag: dict[str, float] = {}
    authors: dict[str, float | None] = {}
    seed_range = range(min(seeds), max(seeds) + 1)
    for p in points:
        vals = [r.allocation_pct[str(p)] for r in results]
        got = [v for v in vals if v is not None]
        ours[str(p)] = _mean(got) if got else float("nan")
        sd[str(p)] = round(statistics.stdev(got), 2) if len(got) > 1 else 0.0
        fr = [r.frag_pct.get(str(p)) for r in results]
        fvals = [v for v in fr if v is not None]
        frag[str(p)] = _mean(fvals) if fvals else float("nan")
        authors[str(p)] = (
            expected_mean(expected, workload, policy, p, seed_range) if expected else None
        )
    wall = sum(r.wall_seconds for r in results)
    pods = sum(r.pods_arrived for r in results)
    return CompareRow(
        workload=workload,
        policy=policy,
        seeds=seeds,
        ours=ours,
        ours_sd=sd,
        authors=authors,
        frag_ours=frag,
        pods_per_second=round(pods / wall, 1) if wall else 0.0,
        wall_seconds=round(wall, 2),
        runs=[
            {
                "seed": r.seed,
                "pods_arrived": r.pods_arrived,
                "pods_scheduled": r.pods_scheduled,
                "allocation_pct": {str(p): r.allocation_pct[str(p)] for p in points},
                "wall_seconds": r.wall_seconds,
            }
            for r in results
        ],
    )


def markdown_table(rows: Sequence[CompareRow], points: Sequence[int] = (100, 130)) -> str:
    """Rows as a markdown table: ours ± sd, authors, difference, per demand point."""
    head = ["workload", "policy", "seeds"]
    for p in points:
        head += [f"ours @{p}%", f"authors @{p}%", f"Δ @{p}%"]
    head += ["pods/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.workload, r.policy, f"{len(r.seeds)}"]
        for p in points:
            k = str(p)
            a = r.authors.get(k)
            cells.append(f"{r.ours[k]:.2f} ± {r.ours_sd[k]:.2f}")
            cells.append("—" if a is None else f"{a:.2f}")
            cells.append("—" if a is None else f"{r.ours[k] - a:+.2f}")
        cells.append(f"{r.pods_per_second:,.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
