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
import sqlite3
import tempfile
import time
from pathlib import Path

import httpx
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


async def run_dockyard(count: int, concurrency: int) -> dict:
    with control_plane() as plane:
        headers = {"Authorization": f"Bearer {plane.cp.token}"}
        limits = httpx.Limits(max_connections=concurrency + 2)
        async with httpx.AsyncClient(
            base_url=plane.url, headers=headers, timeout=60, limits=limits
        ) as http:
            rv = (await http.get(PODS)).json()["metadata"]["resourceVersion"]
            acked: dict[str, float] = {}
            delivered: dict[str, float] = {}
            finished = asyncio.Event()

            async def watch() -> None:
                async with (
                    httpx.AsyncClient(base_url=plane.url, headers=headers, timeout=None) as w,
                    w.stream(
                        "GET", PODS, params={"watch": "true", "resourceVersion": rv}
                    ) as response,
                ):
                    async for line in response.aiter_lines():
                        if line:
                            name = json.loads(line)["object"]["metadata"]["name"]
                            delivered[name] = time.perf_counter()
                            if len(delivered) >= count:
                                finished.set()
                                return

            watcher = asyncio.create_task(watch())
            await asyncio.sleep(0.2)
            names = iter(range(count))

            async def writer() -> None:
                for i in names:
                    name = f"w-{i}"
                    response = await http.post(PODS, json=pod(name))
                    acked[name] = time.perf_counter()
                    assert response.status_code == 201, response.text

            start = time.perf_counter()
            await asyncio.gather(*(writer() for _ in range(concurrency)))
            elapsed = time.perf_counter() - start
            await asyncio.wait_for(finished.wait(), timeout=120)
            watcher.cancel()
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
