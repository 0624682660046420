"""Replay a benchmark trace through Dockyard's routing policies in virtual time.

Serving layer. The same engines (:class:`~dockyard.serving.engine.batching.Engine`, the
calibrated step profile, the finite prefix cache) and the same policies as ``bench
gateway``, but on an event loop whose clock jumps from timer to timer: no sockets, no
processes, no CPU noise, so a run is deterministic and a whole rate ladder takes seconds.
What it leaves out is everything between the policy and the engine (HTTP, the gateway's own
latency, the peers, which only run as processes). The gateway's side is modelled as it
works: the policy picks and records the route, the endpoint's counters move at routing,
first token and finish, KV events reach the policy every 50 ms and metrics every 100 ms.

Used to compare policy variants and to bound what any placement can reach: with
``kv_blocks`` large enough that nothing is ever evicted, every request after its group's
first is a prefix hit, so the result is the best TTFT a single-copy placement can give.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dockyard.serving.bench.report import percentile
from dockyard.serving.bench.traces import TraceRequest, TraceShape, make_trace, poisson_arrivals
from dockyard.serving.engine.batching import FINISHED, Engine, EngineConfig
from dockyard.serving.engine.tokens import block_hashes, count_tokens, render_chat
from dockyard.serving.gateway.endpoints import Endpoint, Scraped
from dockyard.serving.gateway.policies import Policy, RouteRequest

PolicyFactory = Callable[[Callable[[], float]], Policy]  # given the virtual clock


class _JumpSelector(selectors.DefaultSelector):
    """Never waits: a select with a timeout advances the loop's virtual clock instead."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is not None and timeout > 0:
            self.now += timeout
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop for code that only sleeps and queues (no I/O): time is simulated."""

    def __init__(self) -> None:
        self._jump = _JumpSelector()
        super().__init__(self._jump)

    def time(self) -> float:
        return self._jump.now


@dataclass(frozen=True)
class ReplayResult:
    stage: float  # the rate of the stage it belongs to; 0 for warm-up
    ttft_ms: float
    prompt_tokens: int
    cached_tokens: int
    endpoint: int


async def _replay(
    make_policy: PolicyFactory,
    trace: list[TraceRequest],
    rates: list[float],
    duration: float,
    warmup: float,
    seed: int,
    engines: int,
    kv_blocks: int,
) -> list[ReplayResult]:
    loop = asyncio.get_running_loop()
    clock = loop.time
    policy = make_policy(clock)
    fleet = [Engine(EngineConfig(num_blocks=kv_blocks), clock=clock) for _ in range(engines)]
    endpoints = [Endpoint(f"engine-{i}") for i in range(engines)]
    for engine in fleet:
        engine.start()
    cursors = [0] * engines
    results: list[ReplayResult] = []

    async def monitor() -> None:
        tick = 0
        while True:
            await asyncio.sleep(0.05)
            tick += 1
            for i, (engine, endpoint) in enumerate(zip(fleet, endpoints, strict=True)):
                cache = engine.cache
                for kind, h in cache.events[max(cursors[i], cache.event_base) - cache.event_base :]:
                    policy.kv_event(endpoint.url, kind, h)
                cursors[i] = cache.event_base + len(cache.events)
                if tick % 2 == 0:
                    endpoint.scraped = Scraped(
                        waiting=len(engine.waiting),
                        running=len(engine.running),
                        kv_usage=engine.kv_usage,
                        num_blocks=kv_blocks,
                        at=clock(),
                    )

    async def one(request: TraceRequest, at: float, stage: float) -> None:
        await asyncio.sleep(at)
        sent = clock()
        text = render_chat(list(request.messages))
        route = RouteRequest(count_tokens(text), len(text), tuple(block_hashes(text)))
        decision = policy.pick(route, endpoints)
        policy.routed(route, decision)
        i = endpoints.index(decision.endpoint)
        endpoint, pending = endpoints[i], route.prompt_tokens - decision.cached_tokens
        endpoint.claim(pending)
        seq = fleet[i].submit(route.prompt_tokens, list(route.hashes), request.max_tokens)
        first = None
        while await seq.out.get() != FINISHED:
            if first is None:
                first = clock()
                endpoint.first_token(pending)
        endpoint.done()
        assert first is not None
        results.append(
            ReplayResult(stage, (first - sent) * 1000, route.prompt_tokens, seq.cached_tokens, i)
        )

    watcher = loop.create_task(monitor())
    n = max(1, round(rates[0] * warmup)) if warmup > 0 else 0
    arrivals = poisson_arrivals(n, rates[0], seed - 1)
    await asyncio.gather(*(one(trace[k], arrivals[k], 0.0) for k in range(n)))
    cursor = n
    for i, rate in enumerate(rates):
        m = max(1, round(rate * duration))
        batch = [trace[(cursor + k) % len(trace)] for k in range(m)]
        cursor += m
        arrivals = poisson_arrivals(m, rate, seed * 1000 + i)
        await asyncio.gather(*(one(r, a, rate) for r, a in zip(batch, arrivals, strict=True)))
    watcher.cancel()
    for engine in fleet:
        await engine.stop()
    return results


def replay(
    make_policy: PolicyFactory,
    trace_name: str,
    rates: list[float],
    duration: float = 8.0,
    warmup: float = 5.0,
    seed: int = 0,
    engines: int = 4,
    kv_blocks: int = 1000,
    shape: TraceShape | None = None,
) -> list[dict[str, Any]]:
    """One row per rate: TTFT p50/p90/p99 (emulated ms) and the engines' prefix-hit rate."""
    trace = make_trace(trace_name, shape or TraceShape(), seed)
    loop = VirtualTimeLoop()
    try:
        results = loop.run_until_complete(
            _replay(make_policy, trace, rates, duration, warmup, seed, engines, kv_blocks)
        )
    finally:
        loop.close()
    rows = []
    for rate in rates:
        stage = [r for r in results if r.stage == rate]
        ttft = [r.ttft_ms for r in stage]
        rows.append(
            {
                "trace": trace_name,
                "rate": rate,
                "seed": seed,
                "kv_blocks": kv_blocks,
                "requests": len(stage),
                "ttft_p50_ms": round(percentile(ttft, 50), 2),
                "ttft_p90_ms": round(percentile(ttft, 90), 2),
                "ttft_p99_ms": round(percentile(ttft, 99), 2),
                "prefix_hit_rate": round(
                    sum(r.cached_tokens for r in stage) / sum(r.prompt_tokens for r in stage), 4
                ),
            }
        )
    return rows
