"""Pod throughput: N short Pods (``true``) created concurrently, end to end to Succeeded.

Baseline in the same run: the same number of bare bubblewrap sandboxes run with the same
concurrency (the floor set by process and namespace creation on this machine).
Run: ``python bench/pod_throughput.py [--pods 1000] [--concurrency 16]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import httpx
from _common import BARE_SANDBOX_ARGV, control_plane, write_result

PODS = "/api/v1/namespaces/default/pods"


def pod(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
        },
    }


async def run_dockyard(count: int, concurrency: int) -> dict:
    with control_plane() as plane:
        headers = {"Authorization": f"Bearer {plane.token}"}
        async with httpx.AsyncClient(base_url=plane.url, headers=headers, timeout=60) as http:
            rv = (await http.get(PODS)).json()["metadata"]["resourceVersion"]
            done: set[str] = set()
            failed: set[str] = set()
            finished = asyncio.Event()

            async def watch() -> None:
                async with (
                    httpx.AsyncClient(base_url=plane.url, headers=headers, timeout=None) as w,
                    w.stream(
                        "GET", PODS, params={"watch": "true", "resourceVersion": rv}
                    ) as response,
                ):
                    async for line in response.aiter_lines():
                        if not line:
                            continue
                        obj = json.loads(line)["object"]
                        phase = obj.get("status", {}).get("phase")
                        if phase in ("Succeeded", "Failed"):
                            (done if phase == "Succeeded" else failed).add(obj["metadata"]["name"])
                            if len(done) + len(failed) >= count:
                                finished.set()
                                return

            watcher = asyncio.create_task(watch())
            await asyncio.sleep(0.2)
            queue: asyncio.Queue[int] = asyncio.Queue()
            for i in range(count):
                queue.put_nowait(i)

            async def creator() -> None:
                while not queue.empty():
                    i = queue.get_nowait()
                    response = await http.post(PODS, json=pod(f"tp-{i}"))
                    assert response.status_code == 201, response.text

            start = time.perf_counter()
            await asyncio.gather(*(creator() for _ in range(concurrency)))
            created = time.perf_counter() - start
            await asyncio.wait_for(finished.wait(), timeout=600)
            elapsed = time.perf_counter() - start
            watcher.cancel()
    return {
        "pods": count,
        "succeeded": len(done),
        "failed": len(failed),
        "seconds": round(elapsed, 2),
        "pods_per_second": round(count / elapsed, 1),
        "create_seconds": round(created, 2),
    }


async def run_bare(count: int, concurrency: int) -> dict:
    argv = BARE_SANDBOX_ARGV
    semaphore = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with semaphore:
            proc = await asyncio.create_subprocess_exec(*argv)
            await proc.wait()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    elapsed = time.perf_counter() - start
    return {
        "sandboxes": count,
        "seconds": round(elapsed, 2),
        "per_second": round(count / elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    dockyard = asyncio.run(run_dockyard(args.pods, args.concurrency))
    bare = asyncio.run(run_bare(args.pods, args.concurrency))
    write_result(
        "pod_throughput",
        {
            "description": "N Pods running `true`, created concurrently through the API, until all Succeeded; "
            "baseline: the same number of bare bubblewrap sandboxes",
            "dockyard": dockyard,
            "baseline_bare_bwrap": bare,
            "ratio_to_bare": round(dockyard["pods_per_second"] / bare["per_second"], 3),
            "target": {"pods_per_second": 50},
            "meets_target": dockyard["pods_per_second"] >= 50
            and dockyard["succeeded"] == args.pods,
        },
    )


if __name__ == "__main__":
    main()
