"""Workflow controller overhead at scale, with the simulated step executor.

``dockyard up`` runs with ``executor: simulated`` in ``workflow-controller.yaml``: every step
is a real Pod created by the real workflow controller, stored, bound by the real scheduler
and read back by the real operator; only the step's process is left out (the Pod finishes
at once with exit code 0, see ``dockyard.workflows._simulated``). Three phases, each on a
fresh control plane:

* **scale** — N workflows of S sequential steps submitted through the Argo API with no
  controller parallelism limit (all N concurrent), timed from the first submission until
  the controller has finished them all; every workflow must end Succeeded.
* **admission** — M workflows of a few steps with random priorities 0 to 9 under a
  controller ``parallelism`` of P. A Pod watch records when each workflow was admitted
  (its first Pod) and finished (its last Pod); the check counts admissions that happened
  while a workflow of strictly higher priority was waiting, and the most workflows active
  at once (must be ≤ P).
* **large** — one workflow whose ``withSequence`` fans out to K trivial steps; wall time
  and the size of the stored object (what ``GET`` returns and what the store keeps).

Run: ``python bench/workflow_scale.py [--workflows 10000 --steps 10] [--admission 2000
--parallelism 100] [--large 10000]``. Writes ``bench/results/workflow_scale.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from _common import DockyardUp, control_plane, write_result

NS = "default"


@contextmanager
def simulated_plane(parallelism: int | None = None) -> Iterator[DockyardUp]:
    """``dockyard up`` with the simulated executor (and a controller parallelism)."""
    config = "executor: simulated\n"
    if parallelism:
        config += f"parallelism: {parallelism}\n"
    with control_plane(files={"workflow-controller.yaml": config}) as plane:
        yield plane


def sequential(steps: int, priority: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "entrypoint": "main",
        "templates": [
            {
                "name": "main",
                "steps": [[{"name": f"s{i}", "template": "noop"}] for i in range(steps)],
            },
            {"name": "noop", "container": {"image": "busybox", "command": ["true"]}},
        ],
    }
    if priority is not None:
        spec["priority"] = priority
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "scale-"},
        "spec": spec,
    }


def fan_out(count: int) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "large-"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {
                    "name": "main",
                    "steps": [
                        [
                            {
                                "name": "item",
                                "template": "noop",
                                "withSequence": {"count": str(count)},
                            }
                        ]
                    ],
                },
                {"name": "noop", "container": {"image": "busybox", "command": ["true"]}},
            ],
        },
    }


async def submit_all(
    http: httpx.AsyncClient, bodies: list[dict[str, Any]], concurrency: int = 16
) -> list[dict[str, Any]]:
    """Create every body (each gets a name of its own, so a retry after a dropped
    connection is safe: 409 means the first try got through)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int, body: dict[str, Any]) -> dict[str, Any]:
        prefix = body["metadata"].pop("generateName", "wf-")
        body["metadata"]["name"] = name = f"{prefix}{index}"
        async with gate:
            for attempt in range(5):
                try:
                    response = await http.post(f"/api/v1/workflows/{NS}", json={"workflow": body})
                except httpx.TransportError:
                    await asyncio.sleep(0.1 * (attempt + 1))
                    continue
                if response.status_code == 409:
                    response = await http.get(f"/api/v1/workflows/{NS}/{name}")
                response.raise_for_status()
                created: dict[str, Any] = response.json()
                return created
            raise RuntimeError(f"could not create workflow {name}")

    return list(await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies))))


async def wait_finished(http: httpx.AsyncClient, count: int) -> dict[str, int]:
    """Poll the controller's queue figures until ``count`` workflows have finished."""
    peak_admitted = 0
    while True:
        stats = (await http.get("/api/v1/workflow-controller/stats")).json()
        peak_admitted = max(peak_admitted, stats["admitted"])
        if stats["finished"] >= count:
            return {**stats, "peakAdmitted": peak_admitted}
        await asyncio.sleep(0.5)


async def phases(http: httpx.AsyncClient) -> dict[str, int]:
    listing = (
        await http.get(f"/api/v1/workflows/{NS}", params={"fields": "items.status.phase"})
    ).json()
    counts: dict[str, int] = {}
    for item in listing["items"]:
        phase = (item.get("status") or {}).get("phase") or ""
        counts[phase] = counts.get(phase, 0) + 1
    return counts


def load() -> float:
    return os.getloadavg()[0]


async def scale_phase(workflows: int, steps: int) -> dict[str, Any]:
    with simulated_plane() as plane:
        headers = {"Authorization": f"Bearer {plane.token}"}
        async with httpx.AsyncClient(base_url=plane.url, headers=headers, timeout=300) as http:
            load_before = load()
            start = time.perf_counter()
            await submit_all(http, [sequential(steps) for _ in range(workflows)])
            submitted = time.perf_counter() - start
            stats = await wait_finished(http, workflows)
            elapsed = time.perf_counter() - start
            load_after = load()
            result_phases = await phases(http)
            db = plane.data_dir / "state.db"
    total = workflows * steps
    return {
        "workflows": workflows,
        "steps_per_workflow": steps,
        "steps": total,
        "submit_seconds": round(submitted, 2),
        "wall_seconds": round(elapsed, 2),
        "steps_per_second": round(total / elapsed, 1),
        "workflows_per_second": round(workflows / elapsed, 1),
        "peak_concurrent_workflows": stats["peakAdmitted"],
        "peak_pending_workflows": stats["peakWaiting"],
        "phases": result_phases,
        "target_seconds": 300,
        "met": elapsed <= 300 and result_phases.get("Succeeded") == workflows,
        "load_1m_before": round(load_before, 2),
        "load_1m_after": round(load_after, 2),
        "state_db": str(db.name),
    }


async def watch_pods(http: httpx.AsyncClient, sink: list[tuple[int, str, str, str]]) -> None:
    """Append ``(rv, type, workflow, phase)`` for every Pod event until cancelled."""
    async with http.stream(
        "GET", f"/api/v1/namespaces/{NS}/pods", params={"watch": "true"}, timeout=None
    ) as response:
        async for line in response.aiter_lines():
            if not line:
                continue
            event = json.loads(line)
            obj = event["object"]
            meta = obj.get("metadata") or {}
            workflow = (meta.get("labels") or {}).get("workflows.argoproj.io/workflow", "")
            phase = (obj.get("status") or {}).get("phase") or "Pending"
            sink.append((int(meta.get("resourceVersion", 0)), event["type"], workflow, phase))


def check_admission(
    created: list[dict[str, Any]], events: list[tuple[int, str, str, str]], steps: int
) -> dict[str, Any]:
    """Admission = the workflow's first Pod; done = its last Pod finished."""
    created_rv = {w["metadata"]["name"]: int(w["metadata"]["resourceVersion"]) for w in created}
    priority = {w["metadata"]["name"]: int(w["spec"].get("priority") or 0) for w in created}
    admitted: dict[str, int] = {}
    finished_pods: dict[str, int] = {}
    timeline: list[tuple[int, int]] = []
    for rv, kind, workflow, phase in sorted(events):
        if workflow not in created_rv:
            continue
        if kind == "ADDED" and workflow not in admitted:
            admitted[workflow] = rv
            timeline.append((rv, +1))
        if kind == "MODIFIED" and phase in ("Succeeded", "Failed"):
            finished_pods[workflow] = finished_pods.get(workflow, 0) + 1
            if finished_pods[workflow] == steps:
                timeline.append((rv, -1))
    active = peak_active = 0
    for _, delta in sorted(timeline):
        active += delta
        peak_active = max(peak_active, active)
    last_submit = max(created_rv.values())
    checked = inversions = 0
    worst_rank = 0
    order = sorted(admitted.items(), key=lambda kv: kv[1])
    for name, rv in order:
        if rv <= last_submit:
            continue  # still submitting: later arrivals were not known yet
        checked += 1
        better_waiting = [
            other
            for other, other_created in created_rv.items()
            if other_created < rv
            and admitted.get(other, 1 << 62) > rv
            and priority[other] > priority[name]
        ]
        if better_waiting:
            inversions += 1
            worst_rank = max(worst_rank, len(better_waiting))
    return {
        "admitted": len(admitted),
        "admissions_checked": checked,
        "priority_inversions": inversions,
        "most_higher_priority_waiting_at_an_admission": worst_rank,
        "peak_active_workflows": peak_active,
    }


async def admission_phase(workflows: int, steps: int, parallelism: int) -> dict[str, Any]:
    rng = random.Random(42)
    bodies = [sequential(steps, rng.randrange(10)) for _ in range(workflows)]
    with simulated_plane(parallelism) as plane:
        headers = {"Authorization": f"Bearer {plane.token}"}
        async with httpx.AsyncClient(base_url=plane.url, headers=headers, timeout=300) as http:
            events: list[tuple[int, str, str, str]] = []
            watcher = asyncio.create_task(watch_pods(http, events))
            await asyncio.sleep(0.5)
            start = time.perf_counter()
            created = await submit_all(http, bodies)
            stats = await wait_finished(http, workflows)
            elapsed = time.perf_counter() - start
            await asyncio.sleep(1.0)  # let the watch drain
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            result_phases = await phases(http)
    check = check_admission(created, events, steps)
    return {
        "workflows": workflows,
        "steps_per_workflow": steps,
        "parallelism": parallelism,
        "wall_seconds": round(elapsed, 2),
        "peak_pending_workflows": stats["peakWaiting"],
        "phases": result_phases,
        **check,
        "within_parallelism": check["peak_active_workflows"] <= parallelism,
    }


async def large_phase(count: int) -> dict[str, Any]:
    with simulated_plane() as plane:
        headers = {"Authorization": f"Bearer {plane.token}"}
        async with httpx.AsyncClient(base_url=plane.url, headers=headers, timeout=300) as http:
            start = time.perf_counter()
            created = (await submit_all(http, [fan_out(count)]))[0]
            await wait_finished(http, 1)
            elapsed = time.perf_counter() - start
            name = created["metadata"]["name"]
            response = await http.get(f"/api/v1/workflows/{NS}/{name}")
            workflow = response.json()
            db = plane.data_dir / "state.db"
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                row = conn.execute(
                    "SELECT length(data) FROM objects WHERE kind_key=? AND name=?",
                    ("argoproj.io/v1alpha1/Workflow", name),
                ).fetchone()
    nodes = (workflow.get("status") or {}).get("nodes") or {}
    return {
        "steps": count,
        "wall_seconds": round(elapsed, 2),
        "phase": (workflow.get("status") or {}).get("phase"),
        "nodes": len(nodes),
        "api_object_bytes": len(response.content),
        "stored_object_bytes": int(row[0]) if row else None,
    }


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"uptime_at_start": uptime()}
    if args.workflows:
        result["scale"] = await scale_phase(args.workflows, args.steps)
    if args.admission:
        result["admission"] = await admission_phase(
            args.admission, args.admission_steps, args.parallelism
        )
    if args.large:
        result["large"] = await large_phase(args.large)
    result["uptime_at_end"] = uptime()
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--workflows", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--admission", type=int, default=2_000)
    parser.add_argument("--admission-steps", type=int, default=3)
    parser.add_argument("--parallelism", type=int, default=100)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--out", default="workflow_scale")
    args = parser.parse_args()
    write_result(args.out, asyncio.run(main(args)))
