"""``dockyard bench gateway``: every router x trace x rate on the same fleet shape and trace.

Serving layer. For each trace and each router (Dockyard's policies and the installed
peers), a fresh fleet of emulated engines starts (empty caches), the router starts in front
of it, and a warm-up of ``warmup`` emulated seconds at the first rate fills the caches (not reported), then
the rate ladder runs in ascending order, each stage replaying the next
``rate x duration`` requests of the same seeded trace with seeded Poisson arrivals, so all
routers see identical requests at identical times. Results go to a JSON file with a
``results`` list (one row per trace x router x rate).
"""

from __future__ import annotations

import asyncio
import json
import platform
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from dockyard.serving.bench.loadgen import run_stage
from dockyard.serving.bench.processes import Fleet, RouterSpec, peer_available, start_router
from dockyard.serving.bench.report import engine_counters, summarize
from dockyard.serving.bench.traces import TraceShape, make_trace, poisson_arrivals
from dockyard.serving.engine.tokens import BLOCK_TOKENS

MODEL = "emulated-llama-2-7b"
DEFAULT_ROUTERS = (
    RouterSpec("dockyard", "predictive"),
    RouterSpec("dockyard", "round-robin"),
    RouterSpec("dockyard", "least-load"),
    RouterSpec("dockyard", "gie"),
    RouterSpec("dockyard", "cache-aware"),
    RouterSpec("sglang-router", "cache_aware"),
    RouterSpec("sglang-router", "round_robin"),
    RouterSpec("vllm-router", "cache_aware"),
)


@dataclass(frozen=True)
class BenchConfig:
    traces: tuple[str, ...] = ("shared-prefix", "multi-turn", "no-sharing")
    routers: tuple[RouterSpec, ...] = DEFAULT_ROUTERS
    rates: tuple[float, ...] = (8.0, 16.0, 24.0)
    duration: float = 20.0
    warmup: float = 5.0  # emulated seconds at the first rate before measuring (not reported)
    engines: int = 4
    kv_blocks: int = 1000
    time_scale: float = 1.0
    seed: int = 0
    shape: TraceShape = field(default_factory=TraceShape)
    logs: Path = Path("bench/results/logs")


def _counters(urls: list[str]) -> list[dict[str, float]]:
    return [engine_counters(httpx.get(u + "/metrics", timeout=5).text) for u in urls]


def working_set_fraction(cfg: BenchConfig, trace: str) -> float:
    shape = cfg.shape
    if trace == "no-sharing":
        return 0.0
    tokens: float = shape.groups * shape.system_len
    if trace == "multi-turn":
        # open conversations at their mean length
        turn = shape.question_len + shape.output_len
        tokens = shape.groups * (shape.system_len // 2 + (shape.turns + 1) / 2 * turn)
    return tokens / BLOCK_TOKENS / (cfg.engines * cfg.kv_blocks)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    sys.exit(128 + signum)  # unwinds through ``finally`` so child processes are stopped


def run(cfg: BenchConfig, progress: Callable[[str], None] = print) -> dict[str, Any]:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for trace_name in cfg.traces:
        trace = make_trace(trace_name, cfg.shape, cfg.seed)
        for spec in cfg.routers:
            if not peer_available(spec.router):
                skipped.append(spec.label)
                continue
            fleet = Fleet(cfg.engines, cfg.kv_blocks, cfg.time_scale, cfg.logs)
            router = None
            try:
                router, url = start_router(spec, fleet.urls, cfg.logs)
                cursor = 0
                if cfg.warmup > 0:
                    # Same requests for every router: the trace's head, at the first rate.
                    n = max(1, round(cfg.rates[0] * cfg.warmup))
                    asyncio.run(
                        run_stage(
                            url,
                            trace[:n],
                            poisson_arrivals(n, cfg.rates[0], cfg.seed - 1),
                            MODEL,
                            cfg.time_scale,
                        )
                    )
                    cursor = n
                for i, rate in enumerate(cfg.rates):
                    n = max(1, round(rate * cfg.duration))
                    batch = [trace[(cursor + k) % len(trace)] for k in range(n)]
                    cursor += n
                    arrivals = poisson_arrivals(n, rate, cfg.seed * 1000 + i)
                    before = _counters(fleet.urls)
                    results, wall = asyncio.run(
                        run_stage(url, batch, arrivals, MODEL, cfg.time_scale)
                    )
                    time.sleep(0.2)
                    after = _counters(fleet.urls)
                    row = {
                        "trace": trace_name,
                        "router": spec.router,
                        "policy": spec.policy,
                        "rate": rate,
                        **summarize(results, wall, cfg.time_scale, before, after),
                    }
                    rows.append(row)
                    progress(
                        f"{trace_name:13} {spec.label:26} rate {rate:>5}: TTFT p90 "
                        f"{row['ttft_p90_ms']:>9} ms  out {row['output_tokens_per_s']:>8} tok/s  "
                        f"hit {row['prefix_hit_rate']:.3f}  cv {row['load_cv']}  err {row['errors']}"
                    )
            finally:
                if router is not None:
                    router.stop()
                fleet.stop()
    return {
        "benchmark": "gateway",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": {"machine": platform.machine(), "python": platform.python_version()},
        "config": {
            **{k: v for k, v in asdict(cfg).items() if k not in ("routers", "logs")},
            "routers": [s.label for s in cfg.routers],
            "working_set_fraction": {t: round(working_set_fraction(cfg, t), 3) for t in cfg.traces},
        },
        "skipped_routers": skipped,
        "results": rows,
    }


def write(result: dict[str, Any], out_dir: Path, name: str = "gateway") -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    return path
