"""The gateway against real emulated engines on loopback: streaming passthrough, retries
before the first byte, circuit breaking, 503 without endpoints, P/D disaggregation, metrics."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from dockyard.serving.engine import EngineConfig, EngineServer
from dockyard.serving.engine._http import HttpClient, HttpServer, Request, Response
from dockyard.serving.gateway import Gateway, GatewayConfig, static_discovery
from dockyard.serving.gateway.endpoints import EngineRole

CHAT = {
    "model": "emulated-llama-2-7b",
    "messages": [{"role": "user", "content": "hello " * 50}],
    "max_tokens": 4,
    "stream": True,
}


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


async def failing_server() -> HttpServer:
    async def handler(req: Request) -> Response:
        return Response.error(500, "boom", "server_error")

    server = HttpServer(handler)
    await server.start()
    return server


@asynccontextmanager
async def fleet(
    n: int,
    extra: list[str] | None = None,
    roles: dict[int, EngineRole] | None = None,
    **config: Any,
) -> AsyncIterator[tuple[Gateway, list[EngineServer]]]:
    engines = [
        EngineServer(EngineConfig(time_scale=200.0, role=(roles or {}).get(i, "both")))
        for i in range(n)
    ]
    for engine in engines:
        await engine.start()
    urls = [e.url for e in engines] + (extra or [])
    role_map = {engines[i].url: r for i, r in (roles or {}).items()}
    gateway = Gateway(GatewayConfig(port=0, **config), discover=static_discovery(urls, role_map))
    await gateway.start()
    try:
        yield gateway, engines
    finally:
        await gateway.stop()
        for engine in engines:
            await engine.stop()


async def chat(url: str, body: dict[str, Any] | None = None) -> tuple[int, list[str]]:
    client = HttpClient()
    response = await client.request(
        "POST",
        url + "/v1/chat/completions",
        json.dumps(body or CHAT).encode(),
        {"content-type": "application/json"},
        timeout=10,
    )
    data = await asyncio.wait_for(response.read(), 10)
    await client.close()
    events = [e for e in data.decode().split("\n\n") if e.startswith("data: ")]
    return response.status, events


def test_streams_every_token_and_done() -> None:
    async def scenario() -> tuple[int, list[str]]:
        async with fleet(2) as (gateway, _):
            return await chat(gateway.url)

    status, events = asyncio.run(scenario())
    assert status == 200
    assert events[-1] == "data: [DONE]"
    assert len(events) == 5


@pytest.mark.parametrize(
    "bad",
    [pytest.param("refused", id="connection-refused"), pytest.param("http-500", id="answers-500")],
)
def test_failed_endpoint_is_retried_and_its_circuit_opens(bad: str) -> None:
    async def scenario() -> tuple[list[int], dict[str, Any]]:
        broken = await failing_server() if bad == "http-500" else None
        bad_url = f"http://127.0.0.1:{broken.port}" if broken else dead_url()
        try:
            async with fleet(
                1, extra=[bad_url], policy="round-robin", failure_threshold=2, open_seconds=60
            ) as (gateway, _):
                statuses = [(await chat(gateway.url))[0] for _ in range(6)]
                state = {e.url: e for e in gateway.endpoints}[bad_url]
                return statuses, {"failures": state.failures, "open": state.open_until > 0}
        finally:
            if broken:
                await broken.stop()

    statuses, state = asyncio.run(scenario())
    assert statuses == [200] * 6
    assert state == {"failures": 2, "open": True}  # then the circuit kept requests away


def test_no_endpoint_answers_503_at_once() -> None:
    async def scenario() -> tuple[int, list[str]]:
        gateway = Gateway(GatewayConfig(port=0), discover=static_discovery([dead_url()]))
        await gateway.start()
        try:
            client = HttpClient()
            response = await client.request(
                "POST", gateway.url + "/v1/chat/completions", json.dumps(CHAT).encode(), timeout=10
            )
            body = await response.json()
            await client.close()
            return response.status, [body["error"]["type"]]
        finally:
            await gateway.stop()

    assert asyncio.run(scenario()) == (503, ["service_unavailable"])


@pytest.mark.parametrize(
    ("prompt_words", "expect_disaggregated"),
    [
        pytest.param(20, 0, id="short-prompt-decodes-locally"),
        pytest.param(800, 1, id="long-prompt-prefills-remotely"),
    ],
)
def test_pd_disaggregation_by_uncached_tokens(prompt_words: int, expect_disaggregated: int) -> None:
    async def scenario() -> tuple[int, int, int]:
        async with fleet(2, roles={0: "prefill", 1: "decode"}, pd_threshold_tokens=512) as (
            gateway,
            engines,
        ):
            body = dict(CHAT, messages=[{"role": "user", "content": "word " * prompt_words}])
            status, _ = await chat(gateway.url, body)
            return status, gateway.stats.disaggregated, engines[1].engine.stats.kv_transfer_tokens

    status, disaggregated, transferred = asyncio.run(scenario())
    assert status == 200
    assert disaggregated == expect_disaggregated
    assert (transferred > 0) == bool(expect_disaggregated)


def test_metrics_report_routing_and_latency() -> None:
    async def scenario() -> str:
        async with fleet(2) as (gateway, _):
            await chat(gateway.url)
            client = HttpClient()
            text = (await (await client.request("GET", gateway.url + "/metrics")).read()).decode()
            await client.close()
            return text

    text = asyncio.run(scenario())
    for name in (
        "dockyard_gateway_ttft_seconds_count 1",
        "dockyard_gateway_routing_decisions_total{",
        "dockyard_gateway_estimated_prefix_hit_ratio{",
        "dockyard_gateway_endpoint_inflight{",
    ):
        assert name in text
