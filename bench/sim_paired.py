"""Paired table: Dockyard's default minus FGD per pod list, seed by seed.

Reads a ``sim_fidelity.py`` record that ran both policies on the same seeds (same arrival
sequence and node ranks per seed) and prints, per workload, FGD's and Dockyard's mean GPU
allocation at 130 % arrived demand, the mean paired difference ± its standard error, and
the number of seeds on which Dockyard is at or above FGD:

    python bench/sim_paired.py bench/results/sim_quality.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any


def per_seed(row: dict[str, Any]) -> dict[int, float]:
    """Seed → allocation % at 130 % arrived demand of one policy x workload row."""
    return {int(r["seed"]): float(r["allocation_pct"]["130"]) for r in row["runs"]}


def paired_table(rows: list[dict[str, Any]], base: str = "fgd", ours: str = "dockyard") -> str:
    """Markdown table of ``ours`` minus ``base`` per workload (see module docstring)."""
    by = {(r["workload"], r["policy"]): per_seed(r) for r in rows}
    lines = [
        f"| workload | {base.upper()} | Dockyard | Δ | seeds with Dockyard ≥ {base.upper()} |",
        "|---|---|---|---|---|",
    ]
    for wl in sorted({w for w, p in by if p == ours and (w, base) in by}):
        a, b = by[(wl, base)], by[(wl, ours)]
        seeds = sorted(set(a) & set(b))
        diffs = [b[s] - a[s] for s in seeds]
        se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else 0.0
        wins = sum(d >= 0 for d in diffs)
        lines.append(
            f"| {wl} | {statistics.mean(a[s] for s in seeds):.2f} "
            f"| {statistics.mean(b[s] for s in seeds):.2f} "
            f"| {statistics.mean(diffs):+.3f} ± {se:.3f} | {wins}/{len(seeds)} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("record", type=Path, help="a sim_fidelity.py JSON record")
    args = ap.parse_args()
    print(paired_table(json.loads(args.record.read_text())["rows"]), end="")


if __name__ == "__main__":
    main()
