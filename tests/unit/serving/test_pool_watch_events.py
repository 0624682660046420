"""`PoolWatch` turns a Pod watch stream into endpoint sets: one ``apply`` per change of the
routable set, none for events that change nothing routable, however the stream is chunked."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dockyard.serving.gateway import PoolWatch, pool_discovery, static_discovery
from dockyard.serving.gateway.discovery import WatchedDiscovery


def pod(name: str, phase: str, ip: str = "", rv: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "resourceVersion": str(rv), "labels": {"app": "x"}},
        "status": {"phase": phase, **({"podIP": ip} if ip else {})},
    }


def line(kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"


class Stream:
    def __init__(self, chunks: list[bytes]) -> None:
        self.status = 200
        self._chunks = chunks

    async def chunks(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


class Client:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.urls: list[str] = []

    async def request(self, method: str, url: str, **_: Any) -> Stream:
        self.urls.append(url)
        return Stream(self.chunks)


def watch_once(chunks: list[bytes]) -> tuple[list[dict[str, str]], PoolWatch, Client]:
    watch = PoolWatch("http://api", None, "default", "pool")
    watch._pool = {"spec": {"selector": {"app": "x"}, "targetPortNumber": 8000}}
    watch._selector, watch._rv = "app%3Dx", "7"
    client = Client(chunks)
    watch.client = client  # type: ignore[assignment]
    applied: list[dict[str, str]] = []
    asyncio.run(watch._watch(applied.append))
    return applied, watch, client


def test_each_change_of_the_routable_set_is_applied_once() -> None:
    a_running = line("ADDED", pod("a", "Running", "10.0.0.1", rv=8))
    b_pending = line("ADDED", pod("b", "Pending", rv=9))
    applied, watch, client = watch_once(
        [
            a_running[:20],  # an event split across chunks
            a_running[20:] + b_pending,
            line("MODIFIED", pod("b", "Pending", rv=10)),  # nothing routable changed
            line("MODIFIED", pod("b", "Running", "10.0.0.2", rv=11))
            + line("DELETED", pod("a", "Running", "10.0.0.1", rv=12)),
        ]
    )
    assert applied == [
        {"http://10.0.0.1:8000": "both"},
        {"http://10.0.0.2:8000": "both"},
    ]
    assert watch._rv == "12"
    assert "resourceVersion=7" in client.urls[0] and "labelSelector=app%3Dx" in client.urls[0]


def test_an_error_event_ends_the_watch() -> None:
    gone = line("ERROR", {"code": 410, "message": "too old resource version"})
    with pytest.raises(RuntimeError, match="too old resource version"):
        watch_once([gone])


def test_only_the_watch_is_run_rather_than_polled() -> None:
    assert isinstance(PoolWatch("http://api", None, "default", "pool"), WatchedDiscovery)
    assert not isinstance(pool_discovery("http://api", None, "default", "pool"), WatchedDiscovery)
    assert not isinstance(static_discovery(["http://e:8000"]), WatchedDiscovery)


async def test_a_polled_pool_closes_its_client(monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[str] = []

    async def close(self: PoolWatch) -> None:
        closed.append(self.pool)

    monkeypatch.setattr(PoolWatch, "close", close)
    await pool_discovery("http://api", None, "default", "pool").close()
    assert closed == ["pool"]
