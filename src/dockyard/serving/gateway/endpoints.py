"""What the gateway knows about each engine endpoint: health, circuit, load and metrics.

Serving layer. One :class:`Endpoint` per engine URL. Its counters are kept by the gateway
itself as requests pass (fresh to the microsecond), its ``scraped`` fields come from the
engine's ``/metrics`` (tens of milliseconds old). Policies read endpoints; only the proxy
and the monitors write them.

Circuit breaker: ``failure_threshold`` consecutive failures open the circuit for
``open_seconds``; then one trial request is let through (half-open); its success closes the
circuit, its failure opens it again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

EngineRole = Literal["both", "prefill", "decode"]


@dataclass
class Scraped:
    """The engine's own view, from its ``/metrics`` page."""

    waiting: float = 0.0
    running: float = 0.0
    kv_usage: float = 0.0
    num_blocks: int = 0
    prefix_queries: float = 0.0
    prefix_hits: float = 0.0
    at: float = 0.0


@dataclass(eq=False)
class Endpoint:
    url: str
    role: EngineRole = "both"
    healthy: bool = True
    health_failures: int = 0
    # gateway-side load
    inflight: int = 0
    prefilling: int = 0  # routed, first byte not yet back
    pending_prefill_tokens: int = 0  # uncached tokens of those, as estimated at routing
    decoding: int = 0  # first byte back, not finished
    routed: int = 0
    # failure handling
    consecutive_failures: int = 0
    open_until: float = 0.0
    half_open_trial: bool = False
    failures: int = 0
    scraped: Scraped = field(default_factory=Scraped)

    # A request's life in the load counters: claim at routing, first_token when its first
    # byte is back, done when it ends (the gateway's ticket and the virtual replay both).
    def claim(self, pending_tokens: int) -> None:
        """A request routed here, with ``pending_tokens`` uncached prompt tokens to prefill."""
        self.routed += 1
        self.inflight += 1
        self.prefilling += 1
        self.pending_prefill_tokens += pending_tokens

    def first_token(self, pending_tokens: int) -> None:
        """A claimed request's first byte is back: its prefill (``pending_tokens`` of what
        it still counts) is over and it decodes."""
        self.prefilling -= 1
        self.pending_prefill_tokens -= pending_tokens
        self.decoding += 1

    def done(self) -> None:
        """A request that reached :meth:`first_token` ended."""
        self.decoding -= 1
        self.inflight -= 1

    def available(self, now: float | None = None) -> bool:
        """Healthy and not behind an open circuit (half-open admits one trial at a time)."""
        if not self.healthy:
            return False
        if self.open_until == 0.0:
            return True
        now = time.monotonic() if now is None else now
        return now >= self.open_until and not self.half_open_trial

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self.open_until = 0.0
        self.half_open_trial = False

    def record_failure(self, threshold: int, open_seconds: float) -> None:
        self.failures += 1
        self.consecutive_failures += 1
        self.half_open_trial = False
        if self.consecutive_failures >= threshold:
            self.open_until = time.monotonic() + open_seconds

    def begin_trial_if_half_open(self) -> None:
        if self.open_until and time.monotonic() >= self.open_until:
            self.half_open_trial = True


class EndpointSet:
    """The current endpoints by URL; :meth:`sync` applies a discovery result."""

    def __init__(self) -> None:
        self.by_url: dict[str, Endpoint] = {}

    def sync(self, wanted: dict[str, EngineRole]) -> None:
        for url in list(self.by_url):
            if url not in wanted:
                del self.by_url[url]
        for url, role in wanted.items():
            endpoint = self.by_url.get(url)
            if endpoint is None:
                self.by_url[url] = Endpoint(url, role)
            else:
                endpoint.role = role

    def with_role(self, *roles: EngineRole) -> list[Endpoint]:
        return [e for e in self.by_url.values() if e.role in roles]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self.by_url.values()))

    def __len__(self) -> int:
        return len(self.by_url)
