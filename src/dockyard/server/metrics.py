"""Prometheus metrics of the control plane, served at ``/metrics``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from dockyard.server.controlplane import ControlPlane

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ControlPlaneMetrics:
    def __init__(self, cp: ControlPlane) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "dockyard_api_requests_total",
            "HTTP API requests",
            ["method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dockyard_api_request_duration_seconds",
            "HTTP API request latency (to the first byte of the response)",
            ["method"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        gauges: list[tuple[str, str, Callable[[], float]]] = [
            ("dockyard_store_writes_total", "Committed store writes", lambda: cp.store.write_count),
            (
                "dockyard_store_resource_version",
                "Latest resourceVersion",
                lambda: cp.store.resource_version,
            ),
            ("dockyard_store_watches", "Open watches", lambda: cp.store.watch_count),
            (
                "dockyard_controller_reconciles_total",
                "Successful reconciles",
                lambda: cp.manager.reconcile_count,
            ),
            (
                "dockyard_controller_errors_total",
                "Failed reconciles",
                lambda: cp.manager.error_count,
            ),
            (
                "dockyard_scheduler_bindings_total",
                "Pods bound to nodes",
                lambda: cp.scheduler.scheduled_count,
            ),
            (
                "dockyard_node_sandboxes_started_total",
                "Pod sandboxes started",
                lambda: cp.agent.started_count,
            ),
        ]
        for name, help_text, read in gauges:
            Gauge(name, help_text, registry=self.registry).set_function(read)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        requests, latency = self.requests, self.latency

        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            start = time.perf_counter()
            method = scope["method"]

            async def send_wrapper(message: MutableMapping[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    requests.labels(method, str(message["status"])).inc()
                    latency.labels(method).observe(time.perf_counter() - start)
                await send(message)

            await app(scope, receive, send_wrapper)

        return wrapped
