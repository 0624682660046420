"""The FGD authors' cached results (``analysis_allo_discrete.csv`` / ``..._frag_...``).

Rows are ``workload, sc_policy, tune, seed, [total_gpus,] 0..130``; workloads are named
after the pod list (``openb_pod_list_default``) and policies ``01-Random`` … ``06-FGD``. We
map both to Dockyard's names (``default``; ``random`` … ``fgd``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

PAPER_POLICIES: dict[str, str] = {
    "Random": "random",
    "DotProd": "dotprod",
    "GpuClustering": "gpuclustering",
    "GpuPacking": "gpupacking",
    "BestFit": "bestfit",
    "FGD": "fgd",
}


def workload_name(pod_list: str | Path) -> str:
    """``openb_pod_list_default.csv`` (or the bare stem) → ``default``."""
    stem = Path(str(pod_list)).name.removesuffix(".csv")
    return stem.removeprefix("openb_pod_list_")


@dataclass(frozen=True)
class ExpectedRun:
    """One cached run: its curve (demand % → value)."""

    workload: str
    policy: str
    seed: int
    curve: dict[str, float]


def load_expected(path: Path) -> list[ExpectedRun]:
    """All runs in an authors' analysis CSV whose policy is one of the six."""
    runs: list[ExpectedRun] = []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            label = row["sc_policy"].split("-", 1)[-1]
            policy = PAPER_POLICIES.get(label)
            if policy is None:
                continue
            curve = {k: float(v) for k, v in row.items() if k.isdigit() and v not in ("", None)}
            runs.append(
                ExpectedRun(workload_name(row["workload"]), policy, int(row["seed"]), curve)
            )
    return runs


def expected_mean(
    runs: list[ExpectedRun], workload: str, policy: str, point: int, seeds: range | None = None
) -> float | None:
    """Mean over seeds of the cached value at ``point`` % (``None`` when absent)."""
    vals = [
        r.curve[str(point)]
        for r in runs
        if r.workload == workload
        and r.policy == policy
        and str(point) in r.curve
        and (seeds is None or r.seed in seeds)
    ]
    return round(sum(vals) / len(vals), 2) if vals else None
