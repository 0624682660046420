"""The real peer routers (sglang-router, vllm-router from PyPI) accept Dockyard's engine
emulator as a worker and stream completions from it — the same pairing the gateway
benchmark measures. Skipped with a reason where a peer is not installed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dockyard.serving.bench.processes import Fleet, RouterSpec, peer_available, start_router


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    engines = Fleet(2, kv_blocks=256, time_scale=0.05, logs=tmp_path_factory.mktemp("engines"))
    yield engines
    engines.stop()


@pytest.mark.parametrize(
    "spec",
    [RouterSpec("sglang-router", "cache_aware"), RouterSpec("vllm-router", "round_robin")],
    ids=lambda s: s.label,
)
def test_peer_router_streams_from_emulated_engines(
    fleet: Fleet, spec: RouterSpec, tmp_path: Path
) -> None:
    if not peer_available(spec.router):
        pytest.skip(f"{spec.router} is not installed")
    proc, url = start_router(spec, fleet.urls, tmp_path)
    try:
        body = {
            "model": "dockyard-emulated",
            "prompt": "hello " * 40,
            "max_tokens": 8,
            "stream": True,
        }
        chunks = []
        with httpx.stream("POST", f"{url}/v1/completions", json=body, timeout=60) as response:
            assert response.status_code == 200, response.read()
            for line in response.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    chunks.append(json.loads(line[len("data: ") :]))
        text = "".join(c["choices"][0]["text"] for c in chunks if c.get("choices"))
        assert len(chunks) >= 2 and text.strip()
    finally:
        proc.stop()
