"""Workflow throughput with real sandboxed steps: N single-step Argo workflows submitted
through the Argo API (``POST /api/v1/workflows/default``) to a ``dockyard up`` process,
timed from the first submission until the last one has finished.

Completions are observed on one watch of the workflows (as ``argo watch`` and the
controller do), not by listing every workflow over and over, so the observer's own cost
stays constant per workflow however many have run. Besides the end-to-end rate the result
has the sustained rate (completions per second between the first and the last 10 % of
them, when submission and drain effects are out of the way), the control plane's own CPU
time per workflow (its sandboxes not included), and the load average around the run.

Run: ``python bench/workflow_throughput.py [--workflows 2000] [--concurrency 16]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

import httpx
from _common import control_plane, process_cpu_seconds, write_result

WORKFLOW = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"generateName": "bench-"},
    "spec": {
        "entrypoint": "main",
        "templates": [{"name": "main", "container": {"image": "busybox", "command": ["true"]}}],
    },
}
WATCH_PATH = "/apis/argoproj.io/v1alpha1/namespaces/default/workflows"


async def run(count: int, concurrency: int) -> dict:
    load_before = os.getloadavg()
    with control_plane() as plane:
        headers = {"Authorization": f"Bearer {plane.token}"}
        async with httpx.AsyncClient(base_url=plane.url, headers=headers, timeout=120) as http:
            rv = (await http.get(WATCH_PATH)).json()["metadata"]["resourceVersion"]
            finished: dict[str, float] = {}
            phases: dict[str, int] = {}
            all_done = asyncio.Event()

            async def watch() -> None:
                params = {"watch": "true", "resourceVersion": rv}
                async with (
                    httpx.AsyncClient(base_url=plane.url, headers=headers, timeout=None) as w,
                    w.stream("GET", WATCH_PATH, params=params) as response,
                ):
                    async for line in response.aiter_lines():
                        if not line:
                            continue
                        obj = json.loads(line)["object"]
                        status = obj.get("status") or {}
                        name = obj["metadata"]["name"]
                        if status.get("finishedAt") and name not in finished:
                            finished[name] = time.perf_counter()
                            phases[status["phase"]] = phases.get(status["phase"], 0) + 1
                            if len(finished) >= count:
                                all_done.set()
                                return

            watcher = asyncio.create_task(watch())
            await asyncio.sleep(0.2)
            gate = asyncio.Semaphore(concurrency)

            async def submit() -> None:
                async with gate:
                    response = await http.post(
                        "/api/v1/workflows/default", json={"workflow": WORKFLOW}
                    )
                    response.raise_for_status()

            cpu_before = process_cpu_seconds(plane.proc.pid)
            start = time.perf_counter()
            await asyncio.gather(*(submit() for _ in range(count)))
            submitted = time.perf_counter() - start
            await asyncio.wait_for(all_done.wait(), timeout=600)
            elapsed = time.perf_counter() - start
            server_cpu = process_cpu_seconds(plane.proc.pid) - cpu_before
            watcher.cancel()
    ends = sorted(finished.values())
    first, last = ends[count // 10], ends[count - 1 - count // 10]
    sustained = (count - 1 - 2 * (count // 10)) / (last - first) if last > first else 0.0
    return {
        "workflows": count,
        "concurrency": concurrency,
        "submit_seconds": round(submitted, 2),
        "total_seconds": round(elapsed, 2),
        "workflows_per_second": round(count / elapsed, 1),
        "sustained_workflows_per_second": round(sustained, 1),
        "control_plane_cpu_ms_per_workflow": round(server_cpu * 1000 / count, 2),
        "phases": phases,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--workflows", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    write_result("workflow_throughput", asyncio.run(run(args.workflows, args.concurrency)))
