"""The gateway's own Prometheus metrics: latency seen by clients, routing and endpoint load.

Serving layer. Kept as plain counters on the event loop (no locks, no label objects) and
rendered on ``GET /metrics`` in the Prometheus text format.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from dockyard.serving.engine.batching import LATENCY_BOUNDS, Histogram
from dockyard.serving.gateway.endpoints import EndpointSet


@dataclass
class GatewayStats:
    ttft: Histogram = field(default_factory=lambda: Histogram(LATENCY_BOUNDS))
    itl: Histogram = field(default_factory=lambda: Histogram(LATENCY_BOUNDS))
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)  # (endpoint, code)
    decisions: Counter[tuple[str, str, str]] = field(
        default_factory=Counter
    )  # policy, endpoint, reason
    retries: int = 0
    no_endpoint: int = 0
    disaggregated: int = 0
    prompt_tokens: int = 0
    estimated_cached_tokens: int = 0

    def render(self, endpoints: EndpointSet, policy: str) -> str:
        lines: list[str] = []
        self._histogram(lines, "dockyard_gateway_ttft_seconds", self.ttft)
        self._histogram(lines, "dockyard_gateway_itl_seconds", self.itl)
        lines.append("# TYPE dockyard_gateway_requests_total counter")
        for (endpoint, code), n in sorted(self.requests.items()):
            lines.append(
                f'dockyard_gateway_requests_total{{endpoint="{endpoint}",code="{code}"}} {n}'
            )
        lines.append("# TYPE dockyard_gateway_routing_decisions_total counter")
        for (pol, endpoint, reason), n in sorted(self.decisions.items()):
            lines.append(
                f'dockyard_gateway_routing_decisions_total{{policy="{pol}",endpoint="{endpoint}",reason="{reason}"}} {n}'
            )
        for name, value in (
            ("dockyard_gateway_retries_total", self.retries),
            ("dockyard_gateway_no_endpoint_total", self.no_endpoint),
            ("dockyard_gateway_disaggregated_total", self.disaggregated),
        ):
            lines.append(f"# TYPE {name} counter")
            lines.append(f"{name} {value}")
        ratio = self.estimated_cached_tokens / self.prompt_tokens if self.prompt_tokens else 0.0
        lines.append("# TYPE dockyard_gateway_estimated_prefix_hit_ratio gauge")
        lines.append(f'dockyard_gateway_estimated_prefix_hit_ratio{{policy="{policy}"}} {ratio}')
        per_endpoint = (
            ("dockyard_gateway_endpoint_inflight", lambda e: e.inflight),
            (
                "dockyard_gateway_endpoint_pending_prefill_tokens",
                lambda e: e.pending_prefill_tokens,
            ),
            ("dockyard_gateway_endpoint_decoding", lambda e: e.decoding),
            ("dockyard_gateway_endpoint_waiting", lambda e: e.scraped.waiting),
            ("dockyard_gateway_endpoint_kv_usage", lambda e: e.scraped.kv_usage),
            ("dockyard_gateway_endpoint_healthy", lambda e: int(e.healthy)),
            ("dockyard_gateway_endpoint_circuit_open", lambda e: int(e.open_until > 0)),
        )
        for name, read in per_endpoint:
            lines.append(f"# TYPE {name} gauge")
            for endpoint in endpoints:
                lines.append(
                    f'{name}{{endpoint="{endpoint.url}",role="{endpoint.role}"}} {read(endpoint)}'
                )
        return "\n".join(lines) + "\n"

    @staticmethod
    def _histogram(lines: list[str], name: str, hist: Histogram) -> None:
        lines.append(f"# TYPE {name} histogram")
        cumulative = 0
        for bound, count in zip(hist.bounds, hist.counts, strict=False):
            cumulative += count
            lines.append(f'{name}_bucket{{le="{bound}"}} {cumulative}')
        lines.append(f'{name}_bucket{{le="+Inf"}} {hist.n}')
        lines.append(f"{name}_sum {hist.total}")
        lines.append(f"{name}_count {hist.n}")
