"""Gateway overhead: the latency a router adds in front of a zero-delay engine.

Serving layer. One emulated engine with the ``zero`` step profile (tokens come as fast as
the engine's event loop can produce them) is called directly, then through each router,
with the same seeded Poisson arrivals of short streaming chat requests. The added latency
of a router is the difference of its time-to-first-token (and end-to-end) percentiles from
the direct ones. Wall-clock milliseconds (no time scale).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.serving.bench.loadgen import run_stage
from dockyard.serving.bench.processes import Fleet, RouterSpec, peer_available, start_router
from dockyard.serving.bench.report import percentile
from dockyard.serving.bench.runner import MODEL
from dockyard.serving.bench.traces import TraceRequest, poisson_arrivals


@dataclass(frozen=True)
class OverheadConfig:
    rate: float = 200.0
    duration: float = 10.0
    output_len: int = 8
    routers: tuple[RouterSpec, ...] = (RouterSpec("dockyard", "predictive"),)
    logs: Path = Path("bench/results/logs")
    seed: int = 0


def _requests(n: int, output_len: int) -> list[TraceRequest]:
    return [
        TraceRequest(
            ({"role": "user", "content": f"request {i}: say something short"},), output_len, str(i)
        )
        for i in range(n)
    ]


def _measure(url: str, cfg: OverheadConfig, keepalive: bool) -> dict[str, float]:
    n = round(cfg.rate * cfg.duration)
    arrivals = poisson_arrivals(n, cfg.rate, cfg.seed)
    results, _ = asyncio.run(
        run_stage(url, _requests(n, cfg.output_len), arrivals, MODEL, 1.0, keepalive=keepalive)
    )
    ok = [r for r in results if r.ok]
    ttft = [r.ttft * 1000 for r in ok]
    e2e = [r.e2e * 1000 for r in ok]
    return {
        "requests": len(results),
        "errors": len(results) - len(ok),
        "ttft_p50_ms": percentile(ttft, 50),
        "ttft_p99_ms": percentile(ttft, 99),
        "e2e_p50_ms": percentile(e2e, 50),
        "e2e_p99_ms": percentile(e2e, 99),
    }


def run_overhead(cfg: OverheadConfig) -> dict[str, Any]:
    """Direct, then through each router; each with reused and with fresh client connections."""
    fleet = Fleet(1, 4096, 1.0, cfg.logs, profile="zero")
    rows: list[dict[str, Any]] = []
    warm = OverheadConfig(cfg.rate, 1.0, cfg.output_len)
    try:
        direct: dict[bool, dict[str, float]] = {}
        for keepalive in (True, False):
            _measure(fleet.urls[0], warm, keepalive)
            direct[keepalive] = _measure(fleet.urls[0], cfg, keepalive)
            rows.append(
                {"router": "direct", "policy": "", "keepalive": keepalive, **direct[keepalive]}
            )
        for spec in cfg.routers:
            if not peer_available(spec.router):
                rows.append(
                    {"router": spec.router, "policy": spec.policy, "skipped": "not installed"}
                )
                continue
            proc, url = start_router(spec, fleet.urls, cfg.logs)
            try:
                for keepalive in (True, False):
                    _measure(url, warm, keepalive)
                    m = _measure(url, cfg, keepalive)
                    d = direct[keepalive]
                    rows.append(
                        {
                            "router": spec.router,
                            "policy": spec.policy,
                            "keepalive": keepalive,
                            **m,
                            "added_ttft_p50_ms": m["ttft_p50_ms"] - d["ttft_p50_ms"],
                            "added_ttft_p99_ms": m["ttft_p99_ms"] - d["ttft_p99_ms"],
                            "added_e2e_p50_ms": m["e2e_p50_ms"] - d["e2e_p50_ms"],
                            "added_e2e_p99_ms": m["e2e_p99_ms"] - d["e2e_p99_ms"],
                        }
                    )
            finally:
                proc.stop()
    finally:
        fleet.stop()
    for row in rows:
        for key, value in list(row.items()):
            if isinstance(value, float):
                row[key] = round(value, 3)
    return {
        "benchmark": "gateway-overhead",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": {
            "rate": cfg.rate,
            "duration": cfg.duration,
            "output_len": cfg.output_len,
            "stream": True,
        },
        "results": rows,
    }


def overhead_table(result: dict[str, Any]) -> str:
    keys = (
        "router",
        "policy",
        "keepalive",
        "ttft_p50_ms",
        "ttft_p99_ms",
        "added_ttft_p50_ms",
        "added_ttft_p99_ms",
        "added_e2e_p50_ms",
        "added_e2e_p99_ms",
        "errors",
    )
    rows = [[str(r.get(k, "")) for k in keys] for r in result["results"]]
    widths = [max(len(k), *(len(r[i]) for r in rows)) for i, k in enumerate(keys)]
    lines = ["  ".join(k.ljust(w) for k, w in zip(keys, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)
