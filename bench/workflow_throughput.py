"""Workflow throughput with real sandboxed steps: N single-step Argo workflows submitted
through the Argo API (``POST /api/v1/workflows/default``) to a ``dockyard up`` process,
timed from the first submission until the last one has finished.

Run: ``python bench/workflow_throughput.py [--workflows 300] [--concurrency 16]``.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
from _common import control_plane, write_result

WORKFLOW = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"generateName": "bench-"},
    "spec": {
        "entrypoint": "main",
        "templates": [{"name": "main", "container": {"image": "busybox", "command": ["true"]}}],
    },
}


async def run(count: int, concurrency: int) -> dict:
    with control_plane() as plane:
        headers = {"Authorization": f"Bearer {plane.token}"}
        async with httpx.AsyncClient(base_url=plane.url, headers=headers, timeout=120) as http:
            gate = asyncio.Semaphore(concurrency)

            async def submit() -> None:
                async with gate:
                    response = await http.post(
                        "/api/v1/workflows/default", json={"workflow": WORKFLOW}
                    )
                    response.raise_for_status()

            start = time.perf_counter()
            await asyncio.gather(*(submit() for _ in range(count)))
            submitted = time.perf_counter() - start
            phases: dict[str, int] = {}
            while True:
                listing = (
                    await http.get(
                        "/api/v1/workflows/default",
                        params={
                            "fields": "items.metadata.name,items.status.phase,items.status.finishedAt"
                        },
                    )
                ).json()
                items = listing["items"]
                done = [w for w in items if (w.get("status") or {}).get("finishedAt")]
                if len(done) >= count:
                    for w in done:
                        phase = w["status"]["phase"]
                        phases[phase] = phases.get(phase, 0) + 1
                    break
                await asyncio.sleep(0.25)
            elapsed = time.perf_counter() - start
    return {
        "workflows": count,
        "concurrency": concurrency,
        "submit_seconds": round(submitted, 2),
        "total_seconds": round(elapsed, 2),
        "workflows_per_second": round(count / elapsed, 1),
        "phases": phases,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--workflows", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    write_result("workflow_throughput", asyncio.run(run(args.workflows, args.concurrency)))
