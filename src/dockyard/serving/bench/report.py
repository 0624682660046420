"""Turn a stage's request results and engine counters into one result row.

Serving layer. Percentiles are nearest-rank; ``load_cv`` is the coefficient of variation
(standard deviation / mean) of requests completed per engine during the stage;
``prefix_hit_rate`` is the engines' own ``prefix_cache_hits / prefix_cache_queries``
(tokens) over the stage — the true hit rate, not the router's estimate.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from dockyard.serving.bench.loadgen import RequestResult


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def engine_counters(text: str) -> dict[str, float]:
    wanted = {
        "vllm:prefix_cache_hits_total": "hits",
        "vllm:prefix_cache_queries_total": "queries",
        "vllm:request_success_total": "requests",
        "vllm:num_preemptions_total": "preemptions",
    }
    out = dict.fromkeys(wanted.values(), 0.0)
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in wanted:
            out[wanted[name]] = float(line.rsplit(" ", 1)[1])
    return out


def summarize(
    results: list[RequestResult],
    wall_seconds: float,
    scale: float,
    before: list[dict[str, float]],
    after: list[dict[str, float]],
) -> dict[str, Any]:
    ok = [r for r in results if r.ok]
    ttft = [r.ttft * 1000 for r in ok]
    itl = [r.itl * 1000 for r in ok if r.itl]
    tokens = sum(r.output_tokens for r in ok)
    span = (max((r.finished for r in ok), default=wall_seconds)) * scale
    hits = sum(a["hits"] - b["hits"] for a, b in zip(after, before, strict=True))
    queries = sum(a["queries"] - b["queries"] for a, b in zip(after, before, strict=True))
    per_engine = [a["requests"] - b["requests"] for a, b in zip(after, before, strict=True)]
    mean = statistics.fmean(per_engine) if per_engine else 0.0
    cv = statistics.pstdev(per_engine) / mean if mean else 0.0
    return {
        "requests": len(results),
        "errors": len(results) - len(ok),
        "ttft_p50_ms": round(percentile(ttft, 50), 2),
        "ttft_p90_ms": round(percentile(ttft, 90), 2),
        "ttft_p99_ms": round(percentile(ttft, 99), 2),
        "itl_p50_ms": round(percentile(itl, 50), 2),
        "itl_p90_ms": round(percentile(itl, 90), 2),
        "output_tokens_per_s": round(tokens / span, 1) if span else 0.0,
        "requests_per_s": round(len(ok) / span, 2) if span else 0.0,
        "prefix_hit_rate": round(hits / queries, 4) if queries else 0.0,
        "load_cv": round(cv, 3),
        "per_engine_requests": per_engine,
        "preemptions": sum(
            a["preemptions"] - b["preemptions"] for a, b in zip(after, before, strict=True)
        ),
    }


COLUMNS = (
    ("trace", "trace"),
    ("router", "router"),
    ("policy", "policy"),
    ("rate", "rate"),
    ("ttft_p50_ms", "TTFT p50"),
    ("ttft_p90_ms", "TTFT p90"),
    ("ttft_p99_ms", "TTFT p99"),
    ("itl_p50_ms", "ITL p50"),
    ("output_tokens_per_s", "out tok/s"),
    ("prefix_hit_rate", "hit rate"),
    ("load_cv", "load CV"),
    ("errors", "errors"),
)


def table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of result rows (the JSON has every field)."""
    header = [title for _, title in COLUMNS]
    body = [[str(row.get(key, "")) for key, _ in COLUMNS] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(header)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(lines)
