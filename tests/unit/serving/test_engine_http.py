"""The emulator's HTTP surface: the endpoints and shapes vLLM/SGLang clients and routers
rely on, and that the package runs on a bare interpreter (standard library only)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dockyard.serving.engine import EngineConfig, EngineServer
from dockyard.serving.engine._http import HttpClient

ENGINE_DIR = Path(__file__).resolve().parents[3] / "src" / "dockyard" / "serving" / "engine"


async def call(
    method: str, path: str, body: dict[str, Any] | bytes | None = None
) -> tuple[int, bytes]:
    server = EngineServer(EngineConfig(time_scale=500.0, num_blocks=128))
    await server.start()
    client = HttpClient()
    try:
        raw = (
            body
            if isinstance(body, bytes)
            else json.dumps(body).encode()
            if body is not None
            else b""
        )
        response = await client.request(method, server.url + path, raw, timeout=10)
        return response.status, await asyncio.wait_for(response.read(), 10)
    finally:
        await client.close()
        await server.stop()


CASES = [
    pytest.param("GET", "/health", None, 200, b"", id="health"),
    pytest.param("GET", "/v1/models", None, 200, b'"id":"emulated-llama-2-7b"', id="models"),
    pytest.param(
        "GET", "/get_server_info", None, 200, b'"max_running_requests":256', id="sglang-server-info"
    ),
    pytest.param(
        "GET", "/get_model_info", None, 200, b'"is_generation":true', id="sglang-model-info"
    ),
    pytest.param("GET", "/metrics", None, 200, b"vllm:cache_config_info{", id="metrics"),
    pytest.param("GET", "/kv_events?after=0", None, 200, b'"events":[]', id="kv-events"),
    pytest.param(
        "POST",
        "/v1/completions",
        {"prompt": "abcd" * 10, "max_tokens": 3},
        200,
        b'"completion_tokens":3',
        id="completion",
    ),
    pytest.param(
        "POST",
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
        200,
        b'"role":"assistant"',
        id="chat",
    ),
    pytest.param(
        "POST",
        "/generate",
        {"text": "hello", "sampling_params": {"max_new_tokens": 2}},
        200,
        b'"meta_info"',
        id="sglang-generate",
    ),
    pytest.param("POST", "/v1/chat/completions", b"{not json", 400, b"invalid JSON", id="bad-json"),
    pytest.param(
        "POST",
        "/v1/completions",
        {"prompt": "x", "max_tokens": 0},
        400,
        b"max_tokens",
        id="bad-max-tokens",
    ),
    pytest.param("GET", "/nope", None, 404, b"no route", id="unknown-path"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "needle"), CASES)
def test_endpoints(method: str, path: str, body: Any, status: int, needle: bytes) -> None:
    got_status, got = asyncio.run(call(method, path, body))
    assert got_status == status
    assert needle in got


def test_stream_reports_cached_tokens_in_usage() -> None:
    async def scenario() -> list[dict[str, Any]]:
        server = EngineServer(EngineConfig(time_scale=500.0))
        await server.start()
        client = HttpClient()
        usages = []
        body = {
            "prompt": "p" * 640,
            "max_tokens": 2,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        for _ in range(2):
            response = await client.request(
                "POST", server.url + "/v1/completions", json.dumps(body).encode()
            )
            events = (await response.read()).decode().split("\n\n")
            usages.append(json.loads(events[-3][len("data: ") :])["usage"])
        await client.close()
        await server.stop()
        return usages

    first, second = asyncio.run(scenario())
    assert first["prompt_tokens_details"]["cached_tokens"] == 0
    assert second["prompt_tokens_details"]["cached_tokens"] == 160


def test_package_imports_on_a_bare_interpreter(tmp_path: Path) -> None:
    (tmp_path / "dockyard_engine").symlink_to(ENGINE_DIR)
    code = "import dockyard_engine, dockyard_engine.__main__, sys; print(sorted(m for m in sys.modules if m.startswith('dockyard')))"
    out = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            f"import sys; sys.path.insert(0, {str(tmp_path)!r}); {code}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert "'dockyard.'" not in out.stdout and "dockyard_engine.server" in out.stdout
