"""Routing policies: given a request and the available endpoints, pick one.

Serving layer. Decide, then apply: :meth:`Policy.pick` reads endpoint state and returns a
frozen :class:`Decision` without changing anything; the proxy then calls
:meth:`Policy.routed` so the policy can record where the prompt's blocks will live.

Policies (``POLICIES``):

* ``round-robin`` — each endpoint in turn.
* ``least-load`` — fewest requests in flight through this gateway.
* ``gie`` — the Gateway API Inference Extension's default scorer profile: prefix score
  (consecutive matched 64-character blocks / total, at most 256 blocks, LRU of 31,250
  entries per endpoint) x 3 + queue score ((maxQ - q)/(maxQ - minQ) from scraped
  ``num_requests_waiting``) x 2 + KV score (1 - scraped KV usage) x 2; highest wins.
* ``cache-aware`` — SGLang router's cache-aware policy: if load is imbalanced
  (max - min > 64 and max > 1.5 x min) take the least loaded; else the best prefix match if
  its match rate exceeds 0.3; else the least loaded.
* ``predictive`` (Dockyard's default) — the endpoint with the smallest predicted
  time-to-first-token, in prefill-token units: uncached prompt tokens there (from a prefix
  index sized to the engine's real KV capacity and corrected by KV events) + uncached
  tokens already queued there + a per-decoding-request cost + the cost of the KV it would
  have to evict. It keeps a prefix where it is cached until queueing there costs more than
  recomputing it elsewhere, puts a new prefix where its prefill starts soonest, and breaks
  ties by the hot KV footprint each engine already carries.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from dockyard.serving.engine.tokens import BLOCK_TOKENS
from dockyard.serving.gateway.endpoints import Endpoint
from dockyard.serving.gateway.prefix_index import PrefixIndex

GIE_MAX_BLOCKS = 256


@dataclass(frozen=True)
class RouteRequest:
    """What policies may know about a request: its size and its prompt's block hashes."""

    prompt_tokens: int
    text_chars: int
    hashes: tuple[int, ...]


@dataclass(frozen=True)
class Decision:
    endpoint: Endpoint
    cached_tokens: int  # the policy's estimate of prompt tokens already cached there
    reason: str  # "prefix" | "load" | "turn" | "balance" | "score"


class Policy(Protocol):
    name: str

    def pick(self, request: RouteRequest, candidates: list[Endpoint]) -> Decision:
        """Choose among ``candidates`` (non-empty, all available); no side effects."""

    def routed(self, request: RouteRequest, decision: Decision) -> None:
        """Record that ``request`` was sent where ``decision`` says."""

    def forget(self, url: str) -> None:
        """An endpoint left the pool."""

    def kv_event(self, url: str, kind: str, block_hash: int) -> None:
        """An engine stored or removed a block (only policies that index blocks care)."""


class _Stateless:
    def routed(self, request: RouteRequest, decision: Decision) -> None:
        return None

    def forget(self, url: str) -> None:
        return None

    def kv_event(self, url: str, kind: str, block_hash: int) -> None:
        return None


class RoundRobin(_Stateless):
    name = "round-robin"

    def __init__(self) -> None:
        self._counter = itertools.count()

    def pick(self, request: RouteRequest, candidates: list[Endpoint]) -> Decision:
        ordered = sorted(candidates, key=lambda e: e.url)
        return Decision(ordered[next(self._counter) % len(ordered)], 0, "turn")


class LeastLoad(_Stateless):
    name = "least-load"

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)

    def pick(self, request: RouteRequest, candidates: list[Endpoint]) -> Decision:
        low = min(e.inflight for e in candidates)
        best = [e for e in candidates if e.inflight == low]
        return Decision(self._rng.choice(best), 0, "load")


class GieWeighted:
    name = "gie"

    def __init__(
        self, prefix_weight: float = 3, queue_weight: float = 2, kv_weight: float = 2, seed: int = 0
    ) -> None:
        self.weights = (prefix_weight, queue_weight, kv_weight)
        self.index = PrefixIndex(default_capacity=31_250)
        self._rng = random.Random(seed)

    def pick(self, request: RouteRequest, candidates: list[Endpoint]) -> Decision:
        hashes = list(request.hashes[:GIE_MAX_BLOCKS])
        total = max(1, len(hashes))
        queues = [e.scraped.waiting for e in candidates]
        qmin, qmax = min(queues), max(queues)
        wp, wq, wk = self.weights
        best: list[tuple[Endpoint, int]] = []
        best_score = float("-inf")
        for endpoint in candidates:
            matched = self.index.match(endpoint.url, hashes)
            queue = 1.0 if qmax == qmin else (qmax - endpoint.scraped.waiting) / (qmax - qmin)
            score = wp * matched / total + wq * queue + wk * (1.0 - endpoint.scraped.kv_usage)
            if score > best_score + 1e-12:
                best, best_score = [(endpoint, matched)], score
            elif abs(score - best_score) <= 1e-12:
                best.append((endpoint, matched))
        endpoint, matched = self._rng.choice(best)
        return Decision(endpoint, matched * BLOCK_TOKENS, "score")

    def routed(self, request: RouteRequest, decision: Decision) -> None:
        self.index.add(decision.endpoint.url, list(request.hashes[:GIE_MAX_BLOCKS]))

    def forget(self, url: str) -> None:
        self.index.forget(url)

    def kv_event(self, url: str, kind: str, block_hash: int) -> None:
        return None


class CacheAware:
    name = "cache-aware"

    def __init__(
        self,
        cache_threshold: float = 0.3,
        balance_abs: int = 64,
        balance_rel: float = 1.5,
        seed: int = 0,
    ) -> None:
        self.cache_threshold = cache_threshold
        self.balance_abs = balance_abs
        self.balance_rel = balance_rel
        self.index = PrefixIndex(default_capacity=1 << 26)
        self._rng = random.Random(seed)

    def pick(self, request: RouteRequest, candidates: list[Endpoint]) -> Decision:
        loads = [e.inflight for e in candidates]
        least = min(candidates, key=lambda e: (e.inflight, self._rng.random()))
        if max(loads) - min(loads) > self.balance_abs and max(loads) > self.balance_rel * min(
            loads
        ):
            return Decision(
                least, self.index.match(least.url, list(request.hashes)) * BLOCK_TOKENS, "balance"
            )
        hashes = list(request.hashes)
        matches = [(self.index.match(e.url, hashes), e) for e in candidates]
        top = max(m for m, _ in matches)
        rate = top * BLOCK_TOKENS / max(1, request.prompt_tokens)
        if rate > self.cache_threshold:
            endpoint = self._rng.choice([e for m, e in matches if m == top])
            return Decision(endpoint, top * BLOCK_TOKENS, "prefix")
        return Decision(least, self.index.match(least.url, hashes) * BLOCK_TOKENS, "load")

    def routed(self, request: RouteRequest, decision: Decision) -> None:
        self.index.add(decision.endpoint.url, list(request.hashes))

    def forget(self, url: str) -> None:
        self.index.forget(url)

    def kv_event(self, url: str, kind: str, block_hash: int) -> None:
        return None


class Predictive:
    """Dockyard's default; see the module docstring. Weights are in prefill-token units.

    ``decode_weight`` (128) is what one decoding request there costs a newcomer: it joins a
    batch that is mid-step (half a decode step of wait, ~2-3 ms, is ~150-200 prefill tokens
    on the calibrated profile) and shares its steps. New prefixes (less than half the prompt
    cached anywhere) go, among endpoints whose cost is within ``slack`` x prompt tokens of
    the best (default 0: ties only), to the one with the smallest *hot footprint*: the prefix
    blocks its requests reused in the last ``hot_seconds``. A wider slack trades first-token
    latency of new prefixes for KV balance; measured on the shared-prefix (75% of fleet KV)
    and multi-turn traces, the soonest start wins (an opening prefill that lands on a busy
    engine waits there and slows the hits it is batched with), and a new prefix's own cost
    term already keeps working sets apart, since a miss costs a full prefill everywhere.
    """

    name = "predictive"

    def __init__(
        self,
        decode_weight: float = 128.0,
        evict_weight: float = 0.5,
        default_blocks: int = 4096,
        slack: float = 0.0,
        hot_seconds: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.decode_weight = decode_weight
        self.evict_weight = evict_weight
        self.default_blocks = default_blocks
        self.slack = slack
        self.hot_seconds = hot_seconds
        self.clock = clock
        self.index = PrefixIndex(default_capacity=default_blocks)
        # endpoint → prefix root (first block hash) → (shared blocks, last use)
        self._roots: dict[str, dict[int, tuple[int, float]]] = {}

    def _capacity(self, endpoint: Endpoint) -> int:
        blocks = endpoint.scraped.num_blocks or self.default_blocks
        self.index.set_capacity(endpoint.url, blocks)
        return blocks

    def footprint(self, url: str) -> int:
        """Blocks of shared prefixes reused at ``url`` within ``hot_seconds``."""
        roots = self._roots.get(url)
        if not roots:
            return 0
        horizon = self.clock() - self.hot_seconds
        for root in [r for r, (_, seen) in roots.items() if seen < horizon]:
            del roots[root]
        return sum(blocks for blocks, _ in roots.values())

    def cost(self, request: RouteRequest, endpoint: Endpoint) -> tuple[float, int]:
        """(predicted cost in prefill tokens, estimated cached tokens) at ``endpoint``."""
        hashes = list(request.hashes)
        matched = self.index.match(endpoint.url, hashes)
        cached = min(matched * BLOCK_TOKENS, request.prompt_tokens - 1)
        uncached = request.prompt_tokens - cached
        capacity = self._capacity(endpoint)
        overflow = max(0, self.index.size(endpoint.url) + len(hashes) - matched - capacity)
        cost = (
            uncached
            + endpoint.pending_prefill_tokens
            + self.decode_weight * endpoint.decoding
            + self.evict_weight * overflow * BLOCK_TOKENS
        )
        return cost, cached

    def pick(self, request: RouteRequest, candidates: list[Endpoint]) -> Decision:
        scored = [(self.cost(request, e), e) for e in candidates]
        (best_cost, best_cached), best = min(
            scored, key=lambda s: (s[0][0], s[1].inflight, s[1].url)
        )
        if best_cached * 2 >= request.prompt_tokens or len(request.hashes) < 2:
            reason = "prefix" if best_cached >= BLOCK_TOKENS else "load"
            return Decision(best, best_cached, reason)
        limit = best_cost + self.slack * request.prompt_tokens
        near = [(c, e) for c, e in scored if c[0] <= limit]
        (_, cached), chosen = min(
            near, key=lambda s: (self.footprint(s[1].url) / self._capacity(s[1]), s[0][0], s[1].url)
        )
        return Decision(chosen, cached, "spread")

    def routed(self, request: RouteRequest, decision: Decision) -> None:
        url = decision.endpoint.url
        self.index.add(url, list(request.hashes))
        shared = decision.cached_tokens // BLOCK_TOKENS
        if shared:
            # Only reused prefixes count: a prompt nobody shares occupies KV only briefly.
            roots = self._roots.setdefault(url, {})
            previous = roots.get(request.hashes[0], (0, 0.0))[0]
            roots[request.hashes[0]] = (max(previous, shared), self.clock())

    def forget(self, url: str) -> None:
        self.index.forget(url)
        self._roots.pop(url, None)

    def kv_event(self, url: str, kind: str, block_hash: int) -> None:
        if kind == "removed":
            self.index.remove(url, block_hash)
        elif kind == "stored":
            self.index.add(url, [block_hash])


POLICIES = {
    "predictive": Predictive,
    "round-robin": RoundRobin,
    "least-load": LeastLoad,
    "gie": GieWeighted,
    "cache-aware": CacheAware,
}
DEFAULT_POLICY = "predictive"


def make_policy(name: str) -> Policy:
    """A fresh policy by name; raises ValueError naming the choices."""
    try:
        factory = POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}") from None
    policy: Policy = factory()
    return policy
