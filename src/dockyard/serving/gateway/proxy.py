"""The gateway: an OpenAI-compatible reverse proxy that routes each request to an engine.

Serving layer. Per request: parse the body once, hash the prompt's blocks, let the policy
pick among available endpoints (decide), account the choice (apply), forward the original
bytes, and relay the engine's response chunk by chunk.

Failure contract — a client never hangs:

* connection errors, 5xx answers and a missing first body chunk within
  ``first_byte_timeout`` count as endpoint failures and are retried on another endpoint (up
  to ``max_retries``) as long as nothing has been sent to the client;
* once bytes flowed, a broken or silent (``idle_timeout``) upstream ends the client's
  stream;
* no available endpoint → 503 at once.

Prefill/decode disaggregation: when the pool has ``decode`` endpoints, the decode endpoint
is picked first; if the prompt's uncached tokens there exceed ``pd_threshold_tokens`` and a
``prefill`` endpoint is available, the prompt is first sent to a prefill endpoint with
``max_tokens=1`` and ``kv_transfer_params.do_remote_decode``, and the decode request
carries the prefill's ``kv_transfer_params`` so the decode engine pulls the KV (vLLM's
disaggregated-serving protocol). A failed prefill falls back to decoding without it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from dockyard.serving.engine._http import (
    ClientResponse,
    HttpClient,
    HttpError,
    HttpServer,
    Request,
    Response,
)
from dockyard.serving.engine.tokens import block_hashes, count_tokens, prompt_text
from dockyard.serving.gateway.endpoints import Endpoint, EndpointSet
from dockyard.serving.gateway.monitor import Discover, Monitor, MonitorConfig
from dockyard.serving.gateway.policies import (
    DEFAULT_POLICY,
    Decision,
    Policy,
    RouteRequest,
    make_policy,
)
from dockyard.serving.gateway.stats import GatewayStats

log = logging.getLogger("dockyard.serving.gateway")
GENERATE_PATHS = ("/v1/completions", "/v1/chat/completions", "/generate")
FORWARD_HEADERS = ("authorization", "x-request-id")
RELAY_HEADERS = ("content-type", "cache-control")


@dataclass(frozen=True)
class GatewayConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    policy: str = DEFAULT_POLICY
    max_retries: int = 2
    first_byte_timeout: float = 600.0
    idle_timeout: float = 120.0
    failure_threshold: int = 3
    open_seconds: float = 5.0
    pd_threshold_tokens: int = 512
    kv_events: bool = True
    monitor: MonitorConfig = field(default_factory=MonitorConfig)


class _Failed(Exception):
    """An upstream attempt failed before anything reached the client."""


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        endpoints: EndpointSet | None = None,
        discover: Discover | None = None,
        policy: Policy | None = None,
    ) -> None:
        self.config = config
        self.endpoints = endpoints if endpoints is not None else EndpointSet()
        self.policy = policy if policy is not None else make_policy(config.policy)
        self.client = HttpClient()
        self.stats = GatewayStats()
        self.http = HttpServer(self.handle, config.host, config.port)
        self.monitor = Monitor(
            self.endpoints, self.policy, self.client, config.monitor, discover, config.kv_events
        )

    @property
    def url(self) -> str:
        return f"http://{self.http.host}:{self.http.port}"

    async def start(self) -> None:
        if self.monitor.discover is not None:
            await self.monitor.refresh()
        await self.http.start()
        self.monitor.start()

    async def stop(self) -> None:
        await self.monitor.stop()
        await self.http.stop()
        await self.client.close()

    # -- routes ----------------------------------------------------------------------------
    async def handle(self, req: Request) -> Response:
        if req.method == "POST" and req.path in GENERATE_PATHS:
            return await self.generate(req)
        if req.method == "GET":
            if req.path == "/health":
                ok = any(e.available() for e in self.endpoints)
                return Response(200 if ok else 503)
            if req.path == "/metrics":
                return Response.text(self.stats.render(self.endpoints, self.policy.name))
            if req.path == "/endpoints":
                return Response.json([self._describe(e) for e in self.endpoints])
            if req.path in ("/v1/models", "/get_model_info", "/get_server_info"):
                return await self._forward_get(req)
        return Response.error(404, f"no route {req.method} {req.path}")

    @staticmethod
    def _describe(e: Endpoint) -> dict[str, Any]:
        return {
            "url": e.url,
            "role": e.role,
            "healthy": e.healthy,
            "available": e.available(),
            "inflight": e.inflight,
            "pendingPrefillTokens": e.pending_prefill_tokens,
            "decoding": e.decoding,
            "routed": e.routed,
            "failures": e.failures,
            "waiting": e.scraped.waiting,
            "kvUsage": e.scraped.kv_usage,
        }

    async def _forward_get(self, req: Request) -> Response:
        for endpoint in self.endpoints:
            if not endpoint.available():
                continue
            try:
                upstream = await self.client.request("GET", endpoint.url + req.target, timeout=5)
                body = await asyncio.wait_for(upstream.read(), 5)
            except (OSError, HttpError, TimeoutError):
                continue
            return Response(
                upstream.status,
                body,
                {"content-type": upstream.headers.get("content-type", "application/json")},
            )
        return Response.error(503, "no engine endpoint is available", "service_unavailable")

    # -- generation -------------------------------------------------------------------------
    async def generate(self, req: Request) -> Response:
        arrived = time.monotonic()
        try:
            data = req.json()
            if not isinstance(data, dict):
                raise ValueError("body must be a JSON object")
        except ValueError as exc:
            return Response.error(400, f"invalid JSON body: {exc}")
        text = prompt_text(req.path, data)
        route = RouteRequest(count_tokens(text), len(text), tuple(block_hashes(text)))
        headers = {"content-type": "application/json"}
        for name in FORWARD_HEADERS:
            if name in req.headers:
                headers[name] = req.headers[name]
        tried: set[str] = set()
        for attempt in range(self.config.max_retries + 1):
            now = time.monotonic()
            candidates = [
                e
                for e in self.endpoints
                if e.role in ("both", "decode") and e.url not in tried and e.available(now)
            ]
            if not candidates:
                break
            if attempt:
                self.stats.retries += 1
            decision = self.policy.pick(route, candidates)
            endpoint = decision.endpoint
            tried.add(endpoint.url)
            ticket = self._apply(route, decision)
            try:
                body = req.body
                if endpoint.role == "decode":
                    body = await self._maybe_prefill(req.path, data, route, ticket) or body
                return await self._send(req.path, body, headers, ticket, arrived)
            except asyncio.CancelledError:
                ticket.finish("cancelled")  # the client went away before the first byte
                raise
            except _Failed as exc:
                log.info(
                    "upstream attempt failed", extra={"endpoint": endpoint.url, "error": str(exc)}
                )
                continue
        self.stats.no_endpoint += 1
        return Response.error(503, "no engine endpoint is available", "service_unavailable")

    def _apply(self, route: RouteRequest, decision: Decision) -> _Ticket:
        endpoint = decision.endpoint
        endpoint.begin_trial_if_half_open()
        self.policy.routed(route, decision)
        self.stats.decisions[(self.policy.name, endpoint.url, decision.reason)] += 1
        self.stats.prompt_tokens += route.prompt_tokens
        self.stats.estimated_cached_tokens += decision.cached_tokens
        return _Ticket(endpoint, route.prompt_tokens - decision.cached_tokens, self)

    async def _send(
        self,
        path: str,
        body: bytes,
        headers: dict[str, str],
        ticket: _Ticket,
        arrived: float,
    ) -> Response:
        endpoint = ticket.endpoint
        try:
            upstream = await self.client.request(
                "POST", endpoint.url + path, body, headers, timeout=self.config.first_byte_timeout
            )
        except (OSError, HttpError, TimeoutError) as exc:
            ticket.fail("connect_error")
            raise _Failed(f"{type(exc).__name__}: {exc}") from None
        if upstream.status >= 500:
            upstream.close()
            ticket.fail(str(upstream.status))
            raise _Failed(f"HTTP {upstream.status}")
        chunks = upstream.chunks()
        try:
            async with asyncio.timeout(self.config.first_byte_timeout):
                first = await anext(chunks, b"")
        except (OSError, HttpError, TimeoutError, asyncio.IncompleteReadError) as exc:
            await chunks.aclose()  # type: ignore[attr-defined]
            ticket.fail("first_byte_error")
            raise _Failed(f"{type(exc).__name__}: {exc}") from None
        ticket.first_byte()
        endpoint.record_success()
        now = time.monotonic()
        self.stats.ttft.observe(now - arrived)
        out_headers = {k: v for k, v in upstream.headers.items() if k in RELAY_HEADERS}
        if upstream.headers.get("transfer-encoding", "").lower() != "chunked":
            rest = b"".join([c async for c in chunks])
            ticket.finish(str(upstream.status))
            return Response(upstream.status, first + rest, out_headers)
        return Response(
            upstream.status,
            headers=out_headers,
            stream=self._relay(first, chunks, ticket, str(upstream.status), now),
        )

    async def _relay(
        self,
        first: bytes,
        chunks: AsyncIterator[bytes],
        ticket: _Ticket,
        code: str,
        last: float,
    ) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        idle = self.config.idle_timeout
        itl = self.stats.itl
        try:
            yield first
            async with asyncio.timeout(loop.time() + idle) as deadline:
                async for chunk in chunks:
                    now = time.monotonic()
                    itl.observe(now - last)
                    last = now
                    deadline.reschedule(loop.time() + idle)
                    yield chunk
        except (OSError, HttpError, TimeoutError, asyncio.IncompleteReadError):
            code = "stream_error"
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]
            ticket.finish(code)

    # -- disaggregation -----------------------------------------------------------------
    async def _maybe_prefill(
        self, path: str, data: dict[str, Any], route: RouteRequest, decode: _Ticket
    ) -> bytes | None:
        """Run the prefill elsewhere when it pays; the decode body to send, or None."""
        if decode.pending_tokens <= self.config.pd_threshold_tokens:
            return None
        prefills = [e for e in self.endpoints if e.role == "prefill" and e.available()]
        if not prefills:
            return None
        ticket = self._apply(route, self.policy.pick(route, prefills))
        pbody = {k: v for k, v in data.items() if k not in ("stream", "stream_options")}
        pbody["max_tokens"] = 1
        if "max_completion_tokens" in pbody:
            pbody["max_completion_tokens"] = 1
        pbody["kv_transfer_params"] = {"do_remote_decode": True, "do_remote_prefill": False}
        try:
            upstream: ClientResponse = await self.client.request(
                "POST",
                ticket.endpoint.url + path,
                json.dumps(pbody).encode(),
                {"content-type": "application/json"},
                timeout=self.config.first_byte_timeout,
            )
            answer = await asyncio.wait_for(upstream.json(), self.config.first_byte_timeout)
            if upstream.status != 200:
                raise HttpError(f"prefill answered {upstream.status}")
        except (OSError, HttpError, TimeoutError, ValueError) as exc:
            log.info("prefill failed; decoding locally", extra={"error": str(exc)})
            ticket.fail("prefill_error")
            return None
        ticket.first_byte()
        ticket.finish("200")
        ticket.endpoint.record_success()
        # The decode side now only pulls KV: nothing of this prompt is left to prefill there.
        decode.reduce_pending(decode.pending_tokens)
        decode_body = dict(data)
        decode_body["kv_transfer_params"] = answer.get("kv_transfer_params") or {
            "do_remote_prefill": True
        }
        self.stats.disaggregated += 1
        return json.dumps(decode_body).encode()


class _Ticket:
    """One request's claim on an endpoint's load counters, released exactly once."""

    __slots__ = ("endpoint", "gateway", "pending_tokens", "stage")

    def __init__(self, endpoint: Endpoint, pending_tokens: int, gateway: Gateway) -> None:
        self.endpoint = endpoint
        self.gateway = gateway
        self.pending_tokens = pending_tokens
        self.stage = 0  # 0 prefilling, 1 decoding, 2 done
        endpoint.claim(pending_tokens)

    def reduce_pending(self, tokens: int) -> None:
        if self.stage == 0:
            self.endpoint.pending_prefill_tokens -= tokens
            self.pending_tokens -= tokens

    def first_byte(self) -> None:
        if self.stage == 0:
            self.endpoint.first_token(self.pending_tokens)
            self.stage = 1

    def finish(self, code: str) -> None:
        if self.stage == 2:
            return
        self.first_byte()
        self.endpoint.done()
        self.stage = 2
        self.gateway.stats.requests[(self.endpoint.url, code)] += 1

    def fail(self, code: str) -> None:
        if self.stage != 2:
            self.finish(code)
            self.endpoint.record_failure(
                self.gateway.config.failure_threshold, self.gateway.config.open_seconds
            )
