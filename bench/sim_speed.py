"""Scheduling throughput: full trace replay, and a synthetic 5,000-node cluster.

* ``trace``: one replay of the default openb trace (1,213 nodes, ~10.8k pods) per policy,
  with and without the fragmentation measurement.
* ``synthetic``: 5,000 GPU nodes, pods drawn from the default trace's shapes, full plugin
  set (pre-filter, both filters, the default policy's score and device choice) through
  ``Framework.schedule`` + ``commit``; pods/s over the whole run.

    PYTHONPATH=src python bench/sim_speed.py --data ../shared/data/alibaba-gpu-v2023
Writes ``bench/results/sim_speed.json``. Single process, single thread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from dockyard.scheduler.framework import ClusterSnapshot, Framework, NodeSpec
from dockyard.scheduler.plugins import DEFAULT_POLICY, TypicalPods, policy_profile
from dockyard.sim.replay import replay
from dockyard.sim.traces import load_nodes, load_pods

ROOT = Path(__file__).resolve().parent.parent


def synthetic(pods_path: Path, nodes: int, count: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    pods = load_pods(pods_path)
    shapes = [(8, 96000, 786432), (4, 64000, 393216), (2, 64000, 262144), (1, 32000, 131072)]
    specs = []
    for i in range(nodes):
        g, c, m = shapes[int(rng.integers(len(shapes)))]
        specs.append(NodeSpec(f"node-{i:05d}", c, m, g, ["A100", "H100", "T4"][i % 3]))
    snap = ClusterSnapshot.from_nodes(specs, rng.permutation(nodes))
    fw = Framework(policy_profile(DEFAULT_POLICY, TypicalPods.from_pods(pods)))
    seq = [pods[int(i)] for i in rng.integers(len(pods), size=count)]
    placed = 0
    started = time.perf_counter()
    for pod in seq:
        d = fw.schedule(pod, snap)
        if d.scheduled:
            fw.commit(pod, snap, d)
            placed += 1
    wall = time.perf_counter() - started
    return {
        "nodes": nodes,
        "gpus": int(snap.gpu_count.sum()),
        "pods": count,
        "placed": placed,
        "wall_seconds": round(wall, 3),
        "pods_per_second": round(count / wall, 1),
        "plugins": [wp.plugin.name for wp in fw.profile.plugins],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--policies", default="dockyard,fgd")
    ap.add_argument("--synthetic-nodes", type=int, default=5000)
    ap.add_argument("--synthetic-pods", type=int, default=10000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/sim_speed.json")
    args = ap.parse_args()
    csv_dir = args.data / "csv"
    nodes = load_nodes(csv_dir / "openb_node_list_gpu_node.csv")
    pods_path = csv_dir / "openb_pod_list_default.csv"
    pods = load_pods(pods_path)
    trace = []
    for policy in args.policies.split(","):
        for frag in (False, True):
            r = replay(nodes, pods, seed=42, policy=policy, measure_frag=frag)
            trace.append(
                {
                    "policy": policy,
                    "measure_frag": frag,
                    "pods": r.pods_arrived,
                    "wall_seconds": r.wall_seconds,
                    "pods_per_second": r.pods_per_second,
                }
            )
            print(trace[-1])
    syn = synthetic(pods_path, args.synthetic_nodes, args.synthetic_pods, 42)
    print(syn)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "sim_speed",
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "trace": trace,
                "synthetic": syn,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
