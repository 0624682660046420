"""The engine's ``/metrics`` page in the Prometheus text format, shaped like vLLM's.

Serving layer, standard library only. Routers read these names: GIE and llm-d read
``vllm:num_requests_waiting``, ``vllm:num_requests_running``, ``vllm:kv_cache_usage_perc``
(and the older ``vllm:gpu_cache_usage_perc``) and ``vllm:cache_config_info``; SGLang-style
readers get ``sglang:num_queue_reqs``, ``sglang:num_running_reqs`` and ``sglang:token_usage``.
Latency histograms are in emulated seconds.
"""

from __future__ import annotations

from .batching import Engine, Histogram


def _histogram(lines: list[str], name: str, labels: str, hist: Histogram) -> None:
    lines.append(f"# TYPE {name} histogram")
    cumulative = 0
    for bound, count in zip(hist.bounds, hist.counts, strict=False):
        cumulative += count
        lines.append(f'{name}_bucket{{{labels},le="{bound}"}} {cumulative}')
    lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {hist.n}')
    lines.append(f"{name}_sum{{{labels}}} {hist.total}")
    lines.append(f"{name}_count{{{labels}}} {hist.n}")


def render(engine: Engine, engine_id: str) -> str:
    cfg, stats, cache = engine.config, engine.stats, engine.cache
    labels = f'model_name="{cfg.model}",engine="{engine_id}"'
    waiting = len(engine.waiting) + len(engine.transferring)
    running = len(engine.running)
    usage = engine.kv_usage
    lines: list[str] = []

    def gauge(name: str, value: float, extra: str = "") -> None:
        lines.append(f"# TYPE {name} gauge")
        lines.append(f"{name}{{{labels}{extra}}} {value}")

    def counter(name: str, value: float) -> None:
        lines.append(f"# TYPE {name} counter")
        lines.append(f"{name}_total{{{labels}}} {value}")

    gauge("vllm:num_requests_running", running)
    gauge("vllm:num_requests_waiting", waiting)
    gauge("vllm:kv_cache_usage_perc", usage)
    gauge("vllm:gpu_cache_usage_perc", usage)
    gauge(
        "vllm:cache_config_info",
        1,
        f',block_size="16",num_gpu_blocks="{cache.num_blocks}",enable_prefix_caching="True"',
    )
    gauge("vllm:num_cached_blocks", cache.cached_blocks)
    counter("vllm:prefix_cache_queries", stats.prefix_queries)
    counter("vllm:prefix_cache_hits", stats.prefix_hits)
    counter("vllm:prompt_tokens", stats.prompt_tokens)
    counter("vllm:generation_tokens", stats.generation_tokens)
    counter("vllm:num_preemptions", stats.preemptions)
    counter("vllm:request_success", stats.finished)
    counter("vllm:kv_transfer_tokens", stats.kv_transfer_tokens)
    counter("vllm:engine_steps", stats.steps)
    _histogram(lines, "vllm:time_to_first_token_seconds", labels, stats.ttft)
    _histogram(lines, "vllm:inter_token_latency_seconds", labels, stats.itl)
    _histogram(lines, "vllm:e2e_request_latency_seconds", labels, stats.e2e)
    gauge("sglang:num_queue_reqs", waiting)
    gauge("sglang:num_running_reqs", running)
    gauge("sglang:token_usage", usage)
    return "\n".join(lines) + "\n"
