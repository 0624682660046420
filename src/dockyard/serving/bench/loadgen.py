"""Replay a trace against a router with open-loop Poisson arrivals and time every token.

Serving layer. Each request streams (SSE); time to first token is the arrival of the
first chunk that carries generated text, inter-token latency the mean gap between later
text chunks. Times are measured in wall seconds and reported in emulated seconds
(x ``time_scale``), the unit the engines run in.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from dockyard.serving.bench.traces import TraceRequest
from dockyard.serving.engine._http import HttpClient


@dataclass
class RequestResult:
    ok: bool
    arrival: float  # wall, relative to stage start
    ttft: float = 0.0  # emulated seconds
    itl: float = 0.0  # mean, emulated seconds
    e2e: float = 0.0
    output_tokens: int = 0
    finished: float = 0.0  # wall, relative to stage start
    error: str = ""


def _text_events(chunk: bytes) -> int:
    """SSE events in ``chunk`` that carry generated text."""
    return chunk.count(b'"content":"') + chunk.count(b'"text":"')


async def _one(
    client: HttpClient,
    url: str,
    request: TraceRequest,
    model: str,
    start: float,
    at: float,
    scale: float,
    timeout: float,
    keepalive: bool,
) -> RequestResult:
    delay = start + at - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
    sent = time.monotonic()
    result = RequestResult(ok=False, arrival=sent - start)
    body = json.dumps(request.body(model)).encode()
    first = last = 0.0
    gaps: list[float] = []
    tokens = 0
    try:
        async with asyncio.timeout(timeout):
            headers = {"content-type": "application/json"}
            if not keepalive:
                headers["connection"] = "close"
            response = await client.request("POST", url + "/v1/chat/completions", body, headers)
            async for chunk in response.chunks():
                n = _text_events(chunk)
                if not n:
                    continue
                now = time.monotonic()
                if tokens == 0:
                    first = now
                else:
                    gaps.append((now - last) / n)
                last = now
                tokens += n
            if response.status != 200:
                result.error = f"HTTP {response.status}"
                return result
    except Exception as exc:  # a failed request is a result, not a crash of the benchmark
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    end = time.monotonic()
    result.ok = tokens > 0
    result.ttft = (first - sent) * scale
    result.itl = (sum(gaps) / len(gaps) * scale) if gaps else 0.0
    result.e2e = (end - sent) * scale
    result.output_tokens = tokens
    result.finished = end - start
    return result


async def run_stage(
    url: str,
    requests: list[TraceRequest],
    arrivals: list[float],
    model: str,
    scale: float,
    timeout: float = 300.0,
    keepalive: bool = False,
) -> tuple[list[RequestResult], float]:
    """Send ``requests`` at ``arrivals`` (emulated seconds); results and wall duration.

    ``keepalive=False`` (the default) opens a connection per request. sglang-router 0.3.2
    stalls ~40 ms per response on reused client connections here (small writes held back
    until the client's delayed ACK), which would hide its routing behind a transport
    artefact; the overhead benchmark reports both modes.
    """
    client = HttpClient(max_idle_per_host=1024)
    start = time.monotonic() + 0.05
    tasks = [
        asyncio.create_task(
            _one(client, url, r, model, start, at / scale, scale, timeout, keepalive)
        )
        for r, at in zip(requests, arrivals, strict=True)
    ]
    results = await asyncio.gather(*tasks)
    await client.close()
    return list(results), time.monotonic() - start
