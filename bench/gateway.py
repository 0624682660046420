"""Inference gateway benchmarks, with the parameters the README reports.

Runs ``dockyard bench gateway-overhead`` (added latency at 200 requests/s against a zero-delay
engine, beside sglang-router and vllm-router) and ``dockyard bench gateway`` for the
shared-prefix, multi-turn and no-sharing traces (Dockyard's policies beside sglang-router
and vllm-router on the same fleet and trace). Each writes JSON to ``bench/results/``.
"""

from __future__ import annotations

import sys

from dockyard.serving.cli import bench_app


def trace_run(trace: str, rates: str) -> list[str]:
    """``dockyard bench gateway`` for one trace, at the sizes the README reports."""
    return [
        "gateway",
        "--traces",
        trace,
        "--rates",
        rates,
        "--duration",
        "8",
        "--time-scale",
        "0.5",
    ]


RUNS = [
    [
        "gateway-overhead",
        "--rate",
        "200",
        "--duration",
        "10",
        "--routers",
        "dockyard:predictive,sglang-router:cache_aware,vllm-router:cache_aware",
    ],
    trace_run("shared-prefix", "20,40,60,80"),
    trace_run("multi-turn", "20,40,60,80"),
    trace_run("no-sharing", "20,40,60"),
]

if __name__ == "__main__":
    for argv in RUNS:
        print("== dockyard bench " + " ".join(argv), flush=True)
        try:
            bench_app(argv, standalone_mode=False)
        except SystemExit as exc:
            if exc.code:
                sys.exit(exc.code)
