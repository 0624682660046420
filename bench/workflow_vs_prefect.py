"""40 sequential no-op steps: a Dockyard workflow with real sandboxed steps against a
Prefect flow of 40 sequential no-op tasks in Prefect's local ephemeral mode, same run.

* **Dockyard** — ``dockyard up`` (as users run it); a 40-step ``steps`` workflow whose
  every step is a sandboxed ``true`` Pod is submitted through the Argo API and timed from
  the POST until the controller reports it finished (the wall clock a user sees). Repeated
  ``--repeats`` times on the same control plane.
* **Prefect** — a fresh Python process with its own ``PREFECT_HOME`` (no server
  configured, so Prefect runs ephemerally) calls a flow of 40 sequential tasks
  ``--repeats + 1`` times; the first call also starts Prefect's ephemeral API ("cold"), the
  others are "warm". Import time is reported separately and counted in neither.

Run: ``pip install 'dockyard[bench]'`` then ``python bench/workflow_vs_prefect.py``.
Writes ``bench/results/workflow_vs_prefect.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import httpx
from _common import control_plane, write_result
from workflow_scale import sequential

PREFECT_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
from prefect import flow, task
imported = time.perf_counter() - t0

@task
def noop(i: int) -> int:
    return i

@flow
def sequential(n: int) -> int:
    total = 0
    for i in range(n):
        total += noop(i)
    return total

steps, runs = int(sys.argv[1]), int(sys.argv[2])
walls = []
for _ in range(runs):
    start = time.perf_counter()
    sequential(steps)
    walls.append(time.perf_counter() - start)
print(json.dumps({"import_seconds": imported, "walls": walls}))
"""


def run_dockyard(steps: int, repeats: int) -> dict[str, Any]:
    """The first run starts from nothing: ``startup_seconds`` is ``dockyard up`` (process
    start, imports, ready) and ``cold_seconds`` adds the first workflow's wall clock."""
    walls: list[float] = []
    launched = time.perf_counter()
    with control_plane() as plane:
        startup = time.perf_counter() - launched
        headers = {"Authorization": f"Bearer {plane.token}"}
        with httpx.Client(base_url=plane.url, headers=headers, timeout=60) as http:
            for _ in range(repeats):
                start = time.perf_counter()
                created = http.post(
                    "/api/v1/workflows/default", json={"workflow": sequential(steps)}
                )
                created.raise_for_status()
                name = created.json()["metadata"]["name"]
                while True:
                    workflow = http.get(
                        f"/api/v1/workflows/default/{name}",
                        params={"fields": "status.phase,status.finishedAt"},
                    ).json()
                    if workflow["status"].get("finishedAt"):
                        break
                    time.sleep(0.005)
                walls.append(time.perf_counter() - start)
                if workflow["status"]["phase"] != "Succeeded":
                    raise RuntimeError(f"workflow {name} ended {workflow['status']['phase']}")
    return {
        "startup_seconds": round(startup, 3),
        "cold_seconds": round(startup + walls[0], 3),
        "walls_seconds": [round(w, 3) for w in walls],
        "median_seconds": round(statistics.median(walls), 3),
        "per_step_ms": round(statistics.median(walls) / steps * 1000, 1),
    }


def run_prefect(steps: int, repeats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="prefect-home-") as home:
        env = {
            **os.environ,
            "PREFECT_HOME": home,
            "PREFECT_API_URL": "",
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
        done = subprocess.run(
            [sys.executable, "-c", PREFECT_SCRIPT, str(steps), str(repeats + 1)],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    if done.returncode != 0:
        raise RuntimeError(f"prefect run failed:\n{done.stderr[-3000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    cold, warm = data["walls"][0], data["walls"][1:]
    import prefect

    return {
        "version": prefect.__version__,
        "import_seconds": round(data["import_seconds"], 3),
        "cold_seconds": round(cold, 3),
        "cold_with_import_seconds": round(data["import_seconds"] + cold, 3),
        "warm_walls_seconds": [round(w, 3) for w in warm],
        "warm_median_seconds": round(statistics.median(warm), 3),
    }


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    before = uptime()
    dockyard = run_dockyard(args.steps, args.repeats)
    prefect = run_prefect(args.steps, args.repeats)
    ratio_warm = prefect["warm_median_seconds"] / dockyard["median_seconds"]
    ratio_cold = prefect["cold_seconds"] / dockyard["median_seconds"]
    ratio_both_cold = prefect["cold_with_import_seconds"] / dockyard["cold_seconds"]
    write_result(
        "workflow_vs_prefect",
        {
            "steps": args.steps,
            "uptime_at_start": before,
            "dockyard": dockyard,
            "prefect": prefect,
            "dockyard_speedup_vs_prefect_warm": round(ratio_warm, 2),
            "dockyard_speedup_vs_prefect_cold": round(ratio_cold, 2),
            "dockyard_speedup_both_from_nothing": round(ratio_both_cold, 2),
            "target_speedup": 5,
            "met": ratio_warm >= 5,
            "uptime_at_end": uptime(),
        },
    )
