"""Virtual-time replay of the gateway benchmark traces through Dockyard's policies.

Deterministic and free of CPU noise (see :mod:`dockyard.serving.bench.replay`): the same
traces, fleet (4 engines x 1,000 KV blocks) and rate ladders as ``bench/gateway.py``, over
several seeds. Adds two rows the live benchmark cannot give: the default policy as it was
before (``slack`` 0.5, ``decode_weight`` 48), and a placement bound — the default policy on
engines with unlimited KV, where nothing is ever evicted, so every request after its
group's first is a prefix hit. Writes ``bench/results/gateway_replay.json``.

    python bench/gateway_replay.py [--seeds 0-7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from dockyard.serving.bench.replay import PolicyFactory, replay
from dockyard.serving.gateway.policies import POLICIES, Predictive

RATES = {
    "shared-prefix": [20.0, 40.0, 60.0, 80.0],
    "multi-turn": [20.0, 40.0, 60.0, 80.0],
    "no-sharing": [20.0, 40.0, 60.0],
}
UNLIMITED_KV = 1_000_000


def variants() -> dict[str, tuple[PolicyFactory, int]]:
    out: dict[str, tuple[PolicyFactory, int]] = {}
    for name, cls in POLICIES.items():
        if name == "predictive":
            out[name] = (lambda clock: Predictive(clock=clock), 1000)
        else:
            out[name] = (lambda clock, cls=cls: cls(), 1000)  # type: ignore[misc]
    out["predictive-before"] = (
        lambda clock: Predictive(clock=clock, slack=0.5, decode_weight=48.0),
        1000,
    )
    out["predictive-unlimited-kv"] = (
        lambda clock: Predictive(clock=clock, default_blocks=UNLIMITED_KV),
        UNLIMITED_KV,
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0-7", help="first-last")
    parser.add_argument("--traces", default=",".join(RATES))
    parser.add_argument("--out", default="bench/results/gateway_replay.json")
    args = parser.parse_args()
    first, _, last = args.seeds.partition("-")
    seeds = list(range(int(first), int(last or first) + 1))
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    started = time.time()
    for trace in args.traces.split(","):
        for name, (factory, kv_blocks) in variants().items():
            if name == "predictive-unlimited-kv" and trace == "no-sharing":
                continue
            per_rate: dict[float, list[float]] = {}
            for seed in seeds:
                for row in replay(factory, trace, RATES[trace], seed=seed, kv_blocks=kv_blocks):
                    rows.append({"policy": name, **row})
                    per_rate.setdefault(row["rate"], []).append(row["ttft_p90_ms"])
            for rate, p90s in per_rate.items():
                summary.append(
                    {
                        "trace": trace,
                        "policy": name,
                        "rate": rate,
                        "ttft_p90_ms_mean": round(statistics.fmean(p90s), 2),
                        "ttft_p90_ms_by_seed": p90s,
                    }
                )
            means = [s["ttft_p90_ms_mean"] for s in summary[-len(per_rate) :]]
            print(f"{trace:13} {name:24} p90 mean by rate: {means}", flush=True)
    result = {
        "benchmark": "gateway_replay",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seeds": seeds,
        "rates": RATES,
        "seconds": round(time.time() - started, 1),
        "summary": summary,
        "results": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
