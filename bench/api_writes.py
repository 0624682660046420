"""API write throughput and watch delivery latency.

Writers create objects through the HTTP API as fast as they can (Pods addressed to a
scheduler that does not exist, so they are stored, validated and watched but never run);
a watcher measures, for each object, the time from the write being acknowledged to its
event arriving on an HTTP watch stream. Baseline in the same run: raw inserts into an
SQLite WAL database with the same durability setting (the storage floor).
Run: ``python bench/api_writes.py [--writes 5000] [--concurrency 8]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from _common import control_plane, percentiles, write_result

PODS = "/api/v1/namespaces/default/pods"


def pod(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": "writes"}},
        "spec": {
            "schedulerName": "none",
            "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
        },
    }


def _watcher(url: str, token: str, rv: str, count: int, ready: Any, out: Any) -> None:
    """Runs in its own process so that its arrival timestamps are not delayed by the
    writers' event loop; reports {name: wall-clock arrival time}."""

    async def watch() -> dict[str, float]:
        delivered: dict[str, float] = {}
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(url, headers=headers) as http:
            params = {"watch": "true", "resourceVersion": rv}
            async with http.get(
                PODS, params=params, timeout=aiohttp.ClientTimeout(total=None)
            ) as response:
                ready.set()
                async for line in response.content:
                    if line.strip():
                        delivered[json.loads(line)["object"]["metadata"]["name"]] = time.time()
                        if len(delivered) >= count:
                            return delivered
        return delivered

    out.send(asyncio.run(watch()))


async def run_dockyard(count: int, concurrency: int) -> dict:
    # aiohttp as the load generator: it spends far less CPU per request than httpx, and the
    # generator shares this machine's two cores with the server being measured.
    with control_plane() as plane:
        headers = {"Authorization": f"Bearer {plane.token}"}
        connector = aiohttp.TCPConnector(limit=concurrency + 2)
        async with aiohttp.ClientSession(plane.url, headers=headers, connector=connector) as http:
            async with http.get(PODS) as response:
                rv = (await response.json())["metadata"]["resourceVersion"]
            ctx = multiprocessing.get_context("spawn")
            ready = ctx.Event()
            receiver, sender = ctx.Pipe(duplex=False)
            watcher = ctx.Process(
                target=_watcher, args=(plane.url, plane.token, rv, count, ready, sender)
            )
            watcher.start()
            ready.wait(30)
            acked: dict[str, float] = {}
            names = iter(range(count))

            async def writer() -> None:
                body_headers = {"Content-Type": "application/json"}
                for i in names:
                    name = f"w-{i}"
                    async with http.post(
                        PODS, data=json.dumps(pod(name)), headers=body_headers
                    ) as response:
                        await response.read()
                        acked[name] = time.time()
                        assert response.status == 201, await response.text()

            start = time.perf_counter()
            await asyncio.gather(*(writer() for _ in range(concurrency)))
            elapsed = time.perf_counter() - start
            delivered = await asyncio.to_thread(receiver.recv)
            watcher.join(30)
    # An event can arrive before the writer sees its acknowledgement; that counts as 0.
    latencies = [max(0.0, delivered[n] - acked[n]) for n in acked]
    return {
        "writes": count,
        "seconds": round(elapsed, 2),
        "writes_per_second": round(count / elapsed, 1),
        "watch_delivery": percentiles(latencies),
    }


def run_sqlite_floor(count: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "floor.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)")
        payload = json.dumps(pod("x"))
        start = time.perf_counter()
        for i in range(count):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t VALUES (?, ?)", (str(i), payload))
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - start
    return {"writes": count, "writes_per_second": round(count / elapsed, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    dockyard = asyncio.run(run_dockyard(args.writes, args.concurrency))
    floor = run_sqlite_floor(args.writes)
    write_result(
        "api_writes",
        {
            "description": "object creates through the HTTP API with a concurrent HTTP watch; "
            "baseline: one-row SQLite WAL transactions (storage floor)",
            "dockyard": dockyard,
            "baseline_sqlite_transactions": floor,
            "target": {"writes_per_second": 1000, "watch_p99_ms": 20},
            "meets_target": dockyard["writes_per_second"] >= 1000
            and dockyard["watch_delivery"]["p99_ms"] <= 20,
        },
    )


if __name__ == "__main__":
    main()
