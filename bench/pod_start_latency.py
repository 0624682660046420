"""Pod start latency: create → Running, measured through the HTTP API and a watch.

Baseline in the same run: the floor set by the sandbox itself — starting the same
bubblewrap sandbox directly (no API, no scheduler, no store), to first instruction.
Run: ``python bench/pod_start_latency.py [--pods 100]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import threading
import time

import httpx
from _common import BARE_SANDBOX_ARGV, control_plane, percentiles, write_result

PODS = "/api/v1/namespaces/default/pods"


def pod(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": "latency"}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "2"]}],
        },
    }


def measure_dockyard(count: int) -> dict:
    with (
        control_plane() as plane,
        httpx.Client(
            base_url=plane.url, headers={"Authorization": f"Bearer {plane.token}"}, timeout=30
        ) as http,
    ):
        rv = http.get(PODS).json()["metadata"]["resourceVersion"]
        running_at: dict[str, float] = {}
        seen = threading.Event()

        def watch() -> None:
            with (
                httpx.Client(base_url=plane.url, headers=http.headers, timeout=None) as w,
                w.stream("GET", PODS, params={"watch": "true", "resourceVersion": rv}) as response,
            ):
                for line in response.iter_lines():
                    if not line:
                        continue
                    event = json.loads(line)
                    obj = event["object"]
                    if obj.get("status", {}).get("phase") == "Running":
                        running_at.setdefault(obj["metadata"]["name"], time.perf_counter())
                        if len(running_at) >= count:
                            seen.set()
                            return

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        time.sleep(0.2)
        created_at: dict[str, float] = {}
        for i in range(count):
            name = f"lat-{i}"
            created_at[name] = time.perf_counter()
            assert http.post(PODS, json=pod(name)).status_code == 201
            deadline = time.perf_counter() + 10
            while name not in running_at and time.perf_counter() < deadline:
                time.sleep(0.0005)  # one Pod at a time: an idle machine per measurement
        seen.wait(30)
        samples = [running_at[n] - created_at[n] for n in created_at if n in running_at]
        return percentiles(samples)


def measure_bare_sandbox(count: int) -> dict:
    argv = BARE_SANDBOX_ARGV
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        subprocess.run(argv, check=True)
        samples.append(time.perf_counter() - start)
    return percentiles(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=100)
    args = parser.parse_args()
    dockyard = measure_dockyard(args.pods)
    bare = measure_bare_sandbox(args.pods)
    write_result(
        "pod_start_latency",
        {
            "description": "create → Running through the API (one Pod at a time, watch-observed); "
            "baseline: the same bubblewrap sandbox run to completion directly",
            "dockyard": dockyard,
            "baseline_bare_bwrap_run": bare,
            "target": {"p50_ms": 50, "p99_ms": 200},
            "meets_target": dockyard["p50_ms"] <= 50 and dockyard["p99_ms"] <= 200,
        },
    )


if __name__ == "__main__":
    main()
