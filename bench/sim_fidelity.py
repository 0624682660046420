"""Fidelity and quality table: Dockyard's policies vs the FGD authors' cached results.

Runs every policy (the six of the paper and Dockyard's default) over seeds 42-51 on the
given pod lists, writes ``bench/results/sim_fidelity.json`` and replaces the table between
the markers in ``docs/scheduling.md``. One command regenerates the table:

    PYTHONPATH=src python bench/sim_fidelity.py --data ../shared/data/alibaba-gpu-v2023
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from dockyard.scheduler.plugins import POLICIES
from dockyard.sim.compare import compare, markdown_table
from dockyard.sim.expected import load_expected

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- sim_fidelity:begin -->", "<!-- sim_fidelity:end -->"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True, help="alibaba-gpu-v2023 folder")
    ap.add_argument("--workloads", default="default,gpushare100")
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--seeds", default="42-51")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/sim_fidelity.json")
    ap.add_argument("--docs", type=Path, default=ROOT / "docs/scheduling.md")
    args = ap.parse_args()
    lo, hi = (int(x) for x in args.seeds.split("-"))
    seeds = list(range(lo, hi + 1))
    csv_dir = args.data / "csv"
    pod_lists = [csv_dir / f"openb_pod_list_{w}.csv" for w in args.workloads.split(",")]
    expected = load_expected(
        args.data / "fgd-simulator-expected-results/analysis_allo_discrete.csv"
    )
    started = time.perf_counter()
    rows = compare(
        csv_dir / "openb_node_list_gpu_node.csv",
        pod_lists,
        args.policies.split(","),
        seeds,
        expected=expected,
        progress=lambda r: print(
            f"{r.workload} {r.policy} {r.seed}: {r.allocation_pct['130']}", file=sys.stderr
        ),
    )
    table = markdown_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "sim_fidelity",
                "seeds": seeds,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "wall_seconds": round(time.perf_counter() - started, 1),
                "rows": [r.to_json() for r in rows],
            },
            indent=1,
        )
    )
    if args.docs.exists():
        text = args.docs.read_text()
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            _, tail = rest.split(END, 1)
            args.docs.write_text(f"{head}{BEGIN}\n{table}{END}{tail}")
    print(table)


if __name__ == "__main__":
    main()
