"""Would a second copy of each busy prefix lower the shared-prefix TTFT p90 at 20 req/s?

A virtual-time replay (:mod:`dockyard.serving.bench.replay`) of the shared-prefix trace at
20 requests/s, the rate where Dockyard's default stays above 0.25x round-robin's p90. At
that rate a prefix hit waits for the step its engine is in; a second copy of the prefix
on another engine would let a hit pick whichever engine is free. ``TwoCopies`` seeds that
copy: from a group's third request on, while its prefix is on one engine only, the next
request goes to another engine (an idle one, or the least busy with ``--any``), as a miss;
later hits go wherever the default policy's cost is lowest among the holders. Rows:
round-robin, the default, the default on engines that never evict (the single-copy
bound), and two copies with and without eviction. Writes
``bench/results/gateway_replicas.json``.

    python bench/gateway_replicas.py [--seeds 0-7] [--rate 20]
"""

from __future__ import annotations

import argparse
import collections
import statistics
from collections.abc import Callable
from typing import Any

from _common import write_result

from dockyard.serving.bench.replay import replay
from dockyard.serving.gateway.endpoints import Endpoint
from dockyard.serving.gateway.policies import (
    BLOCK_TOKENS,
    Decision,
    Predictive,
    RoundRobin,
    RouteRequest,
)

UNLIMITED_KV = 1_000_000
FLEET_KV = 1000


class TwoCopies(Predictive):
    """The default policy, plus a deliberate second copy of each group's prefix."""

    def __init__(self, idle_only: bool = True, after: int = 3, **options: Any) -> None:
        super().__init__(**options)
        self.idle_only = idle_only
        self.after = after
        self.requests: collections.Counter[int] = collections.Counter()

    def pick(self, request: RouteRequest, candidates: list[Endpoint]) -> Decision:
        root = request.hashes[0]
        self.requests[root] += 1
        hashes = list(request.hashes)
        holders = [
            e
            for e in candidates
            if self.index.match(e.url, hashes) * BLOCK_TOKENS * 2 >= request.prompt_tokens
        ]
        if len(holders) == 1 and self.requests[root] >= self.after:
            others = [e for e in candidates if e not in holders]
            target = min(others, key=lambda e: (e.inflight, e.pending_prefill_tokens, e.url))
            if not self.idle_only or target.inflight == 0:
                return Decision(target, 0, "replicate")
        return super().pick(request, candidates)


def variants() -> dict[str, tuple[Callable[[Callable[[], float]], Any], int]]:
    return {
        "round-robin": (lambda clock: RoundRobin(), FLEET_KV),
        "predictive": (lambda clock: Predictive(clock=clock), FLEET_KV),
        "predictive-unlimited-kv": (
            lambda clock: Predictive(clock=clock, default_blocks=UNLIMITED_KV),
            UNLIMITED_KV,
        ),
        "two-copies-unlimited-kv": (
            lambda clock: TwoCopies(clock=clock, default_blocks=UNLIMITED_KV),
            UNLIMITED_KV,
        ),
        "two-copies-any-unlimited-kv": (
            lambda clock: TwoCopies(idle_only=False, clock=clock, default_blocks=UNLIMITED_KV),
            UNLIMITED_KV,
        ),
        "two-copies": (lambda clock: TwoCopies(clock=clock), FLEET_KV),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0-7", help="first-last")
    parser.add_argument("--rate", type=float, default=20.0)
    args = parser.parse_args()
    first, _, last = args.seeds.partition("-")
    seeds = list(range(int(first), int(last or first) + 1))
    summary: dict[str, dict[str, Any]] = {}
    for name, (factory, kv_blocks) in variants().items():
        p90s = [
            replay(factory, "shared-prefix", [args.rate], seed=seed, kv_blocks=kv_blocks)[0][
                "ttft_p90_ms"
            ]
            for seed in seeds
        ]
        summary[name] = {"ttft_p90_ms_mean": round(statistics.fmean(p90s), 2), "by_seed": p90s}
    baseline = summary["round-robin"]["ttft_p90_ms_mean"]
    for name, row in summary.items():
        row["ratio_to_round_robin"] = round(row["ttft_p90_ms_mean"] / baseline, 3)
        print(f"{name:28} p90 {row['ttft_p90_ms_mean']:7.2f} ms  {row['ratio_to_round_robin']}x")
    write_result(
        "gateway_replicas",
        {"trace": "shared-prefix", "rate": args.rate, "seeds": seeds, "summary": summary},
    )


if __name__ == "__main__":
    main()
