"""Placement ideas measured against FGD on the openb traces (the record behind the
"what we measured" table in ``docs/scheduling.md``).

Each variant is a score + device plugin installed as the ``dockyard`` policy for the run;
every run is paired with FGD on the same seed (same arrival sequence and node ranks), and
the table reports the mean paired difference in GPU allocation at 130 % arrived demand.
Tuning was done on seeds 100-109 (FGD's values for them are computed on the fly); seeds
42-51 are held out for the final table (``sim_fidelity.py``).

    PYTHONPATH=src python bench/sim_policy_ideas.py --data ../shared/data/alibaba-gpu-v2023 \
        --variants cpu-strand+temp-3000,waste-tiebreak --workloads default --seeds 100-109

Appends one row per variant x workload to ``bench/results/sim_policy_ideas.json``.
``--leftovers POLICY --seeds 42-42`` instead prints where the unallocated GPU milli sits at
the end of a replay (per device: the shares on it and its free milli; CPU-starved nodes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import numpy as np

import dockyard.scheduler.plugins.dockyard_policy as dp
from dockyard.scheduler.framework import (
    ClusterSnapshot,
    CycleState,
    DeviceShare,
    FloatArray,
    IntArray,
    PodRequest,
)
from dockyard.scheduler.plugins import FgdScore, TypicalPods
from dockyard.scheduler.plugins._devices import best_fit_devices, eligible, shares
from dockyard.scheduler.plugins.fgd import placed_state, share_candidates, sigmoid_score
from dockyard.sim.replay import replay
from dockyard.sim.traces import load_nodes, load_pods

ROOT = Path(__file__).resolve().parent.parent

VARIANTS: dict[str, dict[str, Any]] = {
    # FGD + 0.5 for nodes with a GPU in use (the default before the waste tie-break)
    "previous": {"tb": "used"},
    "no-tiebreak": {"tb": "none"},
    # eventual waste added inside FGD's gradient instead of as a tie-break
    "waste-in-gradient-0.5": {"lam": 0.5},
    "waste-in-gradient-1": {"lam": 1.0},
    # other sub-point tie-breaks among FGD-equal nodes
    "tb-used-fraction": {"tb": "usedfrac"},
    "tb-cpu-gpu-balance": {"tb": "cpubal"},
    "tb-avoid-cpu-stranding": {"tb": "strand"},
    "tb-same-pod-kind": {"tb": "kind"},
    "tb-same-pod-kind-strong": {"tb": "kind", "b1": 0.25, "b2": 0.5},
    "tb-shares-on-small-nodes": {"tb": "small"},
    "tb-8gpu-nodes-first": {"tb": "static", "mode": "big"},
    "tb-shares-on-8gpu-nodes": {"tb": "static", "mode": "sharebig"},
    "tb-gpu-pods-on-cpu-poor-nodes": {"tb": "static", "mode": "lowratio"},
    "tb-gpu-pods-on-cpu-rich-nodes": {"tb": "static", "mode": "highratio"},
    # the eventual-waste tie-break (the previous default policy) and its variants
    "waste-tiebreak": {"wtb": 0.5, "q0": 0.02},
    "waste-tiebreak-fill-0.01": {"wtb": 0.5, "q0": 0.01},
    "waste-tiebreak-fill-0.05": {"wtb": 0.5, "q0": 0.05},
    "waste-tiebreak-fill-0.15": {"wtb": 0.5, "q0": 0.15},
    "waste-tiebreak-over-used": {"wtb": 0.9, "q0": 0.02},
    "waste-tiebreak-cpu-dead-gaps": {"wtb": 0.5, "q0": 0.02, "wcpu": 3152},
    "waste-first-then-fgd-1000": {"wtb": 0.5, "q0": 0.02, "wfirst": 1000},
    "waste-first-then-fgd-300": {"wtb": 0.5, "q0": 0.02, "wfirst": 300},
    "waste-tiebreak+cpu-strand-3152": {"wtb": 0.5, "q0": 0.02, "ntb": 3152},
    "waste-tiebreak+cpu-strand-8000": {"wtb": 0.5, "q0": 0.02, "ntb": 8000},
    # CPU-only pods among FGD-equal nodes: most CPU left beyond what the node's free GPUs
    # will need (r cores per free GPU); shared pods keep the waste tie-break
    **{f"cpu-surplus-{r}": {"wtb": 0.5, "q0": 0.02, "cpus": r} for r in (6, 11, 16)},
    # eventual CPU stranding in FGD's gradient: GPUs a node cannot serve once each free GPU
    # needs r cores (r = 8 / 11 per GPU), weight lam, for every pod
    **{
        f"cpu-strand-gradient-r{r}-l{lam}": {"wtb": 0.5, "q0": 0.02, "cpur": r, "cpul": lam}
        for r in (8, 10, 11, 12, 13, 14)
        for lam in (0.25, 0.5, 1.0, 2.0, 4.0)
    },
    # stranding (r 12, weight 1) combined with other knobs; "cpu-strand+temp-3000" is the
    # default policy (DockyardScore)
    **{
        f"cpu-strand+{name}": {"wtb": 0.5, "q0": 0.02, "cpur": 12, "cpul": 1.0, **extra}
        for name, extra in {
            "fill-0.01": {"q0": 0.01},
            "fill-0.05": {"q0": 0.05},
            "cpu-only-surplus": {"cpus": 12},
            "temp-2000": {"temp": 2000},
            "temp-3000": {"temp": 3000},
            "temp-2750": {"temp": 2750},
            "temp-3500": {"temp": 3500},
            "temp-4000": {"temp": 4000},
            "temp-5000": {"temp": 5000},
            "temp-3000-all-pods": {"temp": 3000, "tall": 1},
            "no-used-bonus": {"nub": 1},
        }.items()
    },
    # same, counting only the GPU milli a node is expected to use (free - eventual waste)
    "cpu-strand-effective-gpu-r12-l2.0": {
        "wtb": 0.5,
        "q0": 0.02,
        "cpur": 12,
        "cpul": 2.0,
        "eff": 1,
    },
    "cpu-strand-effective-gpu-r11-l2.0": {
        "wtb": 0.5,
        "q0": 0.02,
        "cpur": 11,
        "cpul": 2.0,
        "eff": 1,
    },
    **{
        f"cpu-strand-gradient-r12-l1.0-temp-{t}": {
            "wtb": 0.5,
            "q0": 0.02,
            "cpur": 12,
            "cpul": 1.0,
            "temp": t,
        }
        for t in (1500, 2500)
    },
    **{
        f"waste-tiebreak-temp-{t}": {"wtb": 0.5, "q0": 0.02, "temp": t}
        for t in (700, 1500, 2000, 2500, 3000, 4000, 8000)
    },
}


class VariantScore:
    """FGD with one of the tie-break / gradient variants of ``VARIANTS``."""

    name = "DockyardScore"

    def __init__(self, typical: TypicalPods, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.fgd = FgdScore(typical)
        self.w = dp.eventual_waste(typical, cfg.get("q0", 0.05))

    def cache_key(self, pod: PodRequest) -> Hashable:
        return pod.shape

    def _strand(self, cpu: IntArray, gpu: IntArray) -> FloatArray:
        """Milli-GPU a node cannot serve when each free GPU needs ``cpur`` cores."""
        return dp.cpu_stranding(cpu, gpu, self.cfg["cpur"])

    def _dev(self, pod: PodRequest, snap: ClusterSnapshot, nodes: IntArray) -> FloatArray:
        cfg = self.cfg
        model = self.fgd.models.for_snapshot(snap)
        free = snap.gpu_free[nodes]
        before = model.frag(snap.cpu_free[nodes], free, snap.model_id[nodes])
        cpu, hyp, mid = share_candidates(pod, snap, nodes)
        delta = before[:, None] - model.frag(cpu, hyp, mid)
        ok = eligible(pod, snap, nodes)
        after = np.where(ok, free - pod.gpu_milli, 0)
        gain = self.w[free] - self.w[after]
        if cfg.get("cpul") and cfg.get("eff"):
            eff_b = (free - self.w[free]).sum(1)
            eff_a = eff_b[:, None] - (free - self.w[free]) + (after - self.w[after])
            st_b = self._strand(snap.cpu_free[nodes], eff_b)
            st_a = self._strand((snap.cpu_free[nodes] - pod.cpu_milli)[:, None], eff_a)
            delta = delta - cfg["cpul"] * (st_a - st_b[:, None])
        elif cfg.get("cpul"):
            st_b = self._strand(snap.cpu_free[nodes], free.sum(1))
            st_a = self._strand(snap.cpu_free[nodes] - pod.cpu_milli, free.sum(1) - pod.gpu_milli)
            delta = delta - cfg["cpul"] * (st_a - st_b)[:, None]
        if cfg.get("wtb"):
            if cfg.get("wcpu"):
                dead_b = snap.cpu_free[nodes] < cfg["wcpu"]
                dead_a = (snap.cpu_free[nodes] - pod.cpu_milli) < cfg["wcpu"]
                wb = np.where(dead_b, free.sum(1), self.w[free].sum(1))
                alive = wb[:, None] - gain
                wa = np.where(dead_a[:, None], (free.sum(1) - pod.gpu_milli)[:, None], alive)
                gain = wb[:, None] - wa
            tie = cfg["wtb"] / (1 + np.exp(-gain / 50.0))
            if cfg.get("wfirst"):
                primary = sigmoid_score(gain * 1000.0 / cfg["wfirst"])
                return np.where(ok, primary + cfg["wtb"] / (1 + np.exp(-delta / 1000.0)), -1.0)
            return np.where(ok, sigmoid_score(delta * 1000.0 / cfg.get("temp", 1000.0)) + tie, -1.0)
        if cfg.get("lam"):
            delta = delta + cfg["lam"] * gain
        return np.where(ok, sigmoid_score(delta), -1.0)

    def score(
        self, state: CycleState, pod: PodRequest, snap: ClusterSnapshot, nodes: IntArray
    ) -> FloatArray:
        cfg = self.cfg
        cap = snap.gpu_count[nodes] * 1000
        in_use = snap.gpu_free_total[nodes] < cap
        if pod.is_gpu_share:
            base = self._dev(pod, snap, nodes).max(axis=1)
            if cfg.get("wtb"):
                bonus = 0.0 if cfg.get("nub") else 0.5 * (1 - cfg["wtb"])
                return np.asarray(base + bonus * in_use, dtype=np.float64)
        elif cfg.get("cpul"):
            model = self.fgd.models.for_snapshot(snap)
            mid = snap.model_id[nodes]
            before = model.frag(snap.cpu_free[nodes], snap.gpu_free[nodes], mid)
            cpu_a, free_a = placed_state(pod, snap, nodes)
            delta = before - model.frag(cpu_a, free_a, mid)
            if cfg.get("eff"):
                free_b = snap.gpu_free[nodes]
                st_b = self._strand(snap.cpu_free[nodes], (free_b - self.w[free_b]).sum(1))
                st_a = self._strand(cpu_a, (free_a - self.w[free_a]).sum(1))
            else:
                st_b = self._strand(snap.cpu_free[nodes], snap.gpu_free_total[nodes])
                st_a = self._strand(cpu_a, free_a.sum(1))
            scale = 1000.0 / cfg["temp"] if cfg.get("tall") else 1.0
            base = sigmoid_score((delta - cfg["cpul"] * (st_a - st_b)) * scale)
            if cfg.get("nub"):
                return np.asarray(base, dtype=np.float64)
        else:
            base = self.fgd.score(state, pod, snap, nodes)
        if cfg.get("cpus") and not pod.wants_gpu:
            surplus = (
                snap.cpu_free[nodes] - pod.cpu_milli - cfg["cpus"] * snap.gpu_free_total[nodes]
            )
            return np.asarray(base + 0.9 * np.clip(0.5 + surplus / 256000, 0, 1), dtype=np.float64)
        if cfg.get("ntb") and not pod.is_gpu_share:
            left = snap.gpu_free_total[nodes] - pod.total_gpu_milli
            dead_b = np.where(snap.cpu_free[nodes] < cfg["ntb"], snap.gpu_free_total[nodes], 0)
            dead_a = np.where(snap.cpu_free[nodes] - pod.cpu_milli < cfg["ntb"], left, 0)
            return np.asarray(base + 0.5 * (dead_a <= dead_b) + 0.25 * in_use, dtype=np.float64)
        tb = cfg.get("tb", "used")
        g = snap.gpu_count[nodes]
        extra: Any = 0.0
        if tb == "used":
            extra = 0.5 * in_use
        elif tb == "usedfrac":
            extra = 0.9 * (1 - snap.gpu_free_total[nodes] / np.maximum(cap, 1))
        elif tb == "cpubal":
            cpu_after = snap.cpu_free[nodes] - pod.cpu_milli
            gpu_after = snap.gpu_free_total[nodes] - pod.total_gpu_milli
            imb = np.abs(cpu_after - 12.0 * gpu_after) / (12.0 * 8000 + 128000)
            extra = 0.9 * (1 - np.minimum(imb, 1)) * (0.5 + 0.5 * in_use)
        elif tb == "strand":
            cpu_after = snap.cpu_free[nodes] - pod.cpu_milli
            gpu_after = snap.gpu_free_total[nodes] - pod.total_gpu_milli
            extra = 0.5 * in_use - 0.4 * np.minimum((cpu_after < 4000) * gpu_after / 8000, 1)
        elif tb == "kind":
            same = snap.kind_counts[nodes, pod.kind] > 0 if pod.kind >= 0 else False
            extra = cfg.get("b1", 0.5) * in_use + cfg.get("b2", 0.25) * same
        elif tb == "small":
            extra = 0.5 * in_use + 0.25 * ((g <= 2) if pod.is_gpu_share else (g >= 8))
        elif tb == "static":
            ratio = snap.cpu_cap[nodes] / np.maximum(g, 1)
            mode = cfg["mode"]
            if mode == "big":
                pref = g >= 8
            elif mode == "sharebig":
                pref = (g >= 8) & pod.is_gpu_share
            elif mode == "lowratio":
                pref = (ratio <= 16000) if pod.wants_gpu else (ratio > 16000)
            else:
                pref = (ratio > 16000) if pod.wants_gpu else (ratio <= 16000)
            extra = 0.5 * in_use + 0.25 * pref
        return np.asarray(base + extra, dtype=np.float64)

    def assign(
        self, state: CycleState, pod: PodRequest, snap: ClusterSnapshot, node: int
    ) -> tuple[DeviceShare, ...]:
        if not pod.is_gpu_share:
            return best_fit_devices(pod, snap, node)
        return shares(pod, [int(np.argmax(self._dev(pod, snap, np.array([node]))[0]))])


def leftovers(nodes_path: Path, pods_path: Path, policy: str, seed: int) -> None:
    """Print the end-of-run unallocated GPU milli grouped by what shares each device."""
    from collections import Counter, defaultdict

    from dockyard.scheduler.framework import Framework
    from dockyard.scheduler.plugins import policy_profile
    from dockyard.sim.arrival import arrival_sequence, node_ranks

    nodes = sorted(load_nodes(nodes_path), key=lambda n: n.name)
    pods = load_pods(pods_path)
    rng = np.random.default_rng(seed)
    milli = sum(n.gpu_count for n in nodes) * 1000
    seq = arrival_sequence(pods, milli, 1.3, rng)
    snap = ClusterSnapshot.from_nodes(nodes, node_ranks(len(nodes), rng))
    fw = Framework(
        policy_profile(policy, TypicalPods.from_pods(pods), np.random.default_rng([seed, 1]))
    )
    on_device: dict[tuple[int, int], list[int]] = defaultdict(list)
    for pod in seq:
        d = fw.schedule(pod, snap)
        if d.scheduled:
            fw.commit(pod, snap, d)
            if pod.is_gpu_share:
                on_device[(d.node_index, d.devices[0].index)].append(pod.gpu_milli)
    free = np.where(snap.gpu_exists, snap.gpu_free, 0)
    starved = snap.cpu_free < 4000
    print(f"{policy} seed {seed}: unallocated {free.sum() / 1000:.1f} GPUs")
    print(f"  whole free GPUs: {int((free == 1000).sum())}")
    waste: Counter[tuple[tuple[int, ...], int, bool]] = Counter()
    for (j, g), used in on_device.items():
        key = (tuple(sorted(used, reverse=True)), int(snap.gpu_free[j, g]), bool(starved[j]))
        waste[key] += int(snap.gpu_free[j, g])
    for (combo, left, cpu_starved), total in waste.most_common(15):
        tag = " (node < 4 cores free)" if cpu_starved else ""
        print(f"  shares {combo} leave {left}{tag}: {total / 1000:.1f} GPUs")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True, help="alibaba-gpu-v2023 folder")
    ap.add_argument("--variants", default="waste-tiebreak", help=f"from {', '.join(VARIANTS)}")
    ap.add_argument("--workloads", default="default")
    ap.add_argument("--seeds", default="100-109")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/sim_policy_ideas.json")
    ap.add_argument("--leftovers", metavar="POLICY", help="print end-of-run leftovers instead")
    args = ap.parse_args()
    lo, hi = (int(x) for x in args.seeds.split("-"))
    csv_dir = args.data / "csv"
    if args.leftovers:
        for wl in args.workloads.split(","):
            for seed in range(lo, hi + 1):
                pods_path = csv_dir / f"openb_pod_list_{wl}.csv"
                leftovers(csv_dir / "openb_node_list_gpu_node.csv", pods_path, args.leftovers, seed)
        return
    nodes = load_nodes(csv_dir / "openb_node_list_gpu_node.csv")
    record = json.loads(args.out.read_text()) if args.out.exists() else {"rows": []}
    original = dp.dockyard_plugins
    fgd_cache: dict[tuple[str, int], float] = {}
    for name in args.variants.split(","):
        cfg = VARIANTS[name]
        dp.dockyard_plugins = lambda t, cfg=cfg: (VariantScore(t, cfg),)  # type: ignore[misc]
        for wl in args.workloads.split(","):
            pods = load_pods(csv_dir / f"openb_pod_list_{wl}.csv")
            diffs, means = [], []
            started = time.perf_counter()
            for seed in range(lo, hi + 1):
                if (wl, seed) not in fgd_cache:
                    dp.dockyard_plugins, keep = original, dp.dockyard_plugins
                    r = replay(nodes, pods, seed=seed, policy="fgd", measure_frag=False)
                    fgd_cache[(wl, seed)] = float(r.allocation_pct["130"] or 0)
                    dp.dockyard_plugins = keep
                r = replay(nodes, pods, seed=seed, policy="dockyard", measure_frag=False)
                ours = float(r.allocation_pct["130"] or 0)
                means.append(ours)
                diffs.append(round(ours - fgd_cache[(wl, seed)], 2))
            row = {
                "variant": name,
                "config": cfg,
                "workload": wl,
                "seeds": args.seeds,
                "mean_130": round(statistics.mean(means), 3),
                "diff_vs_fgd": round(statistics.mean(diffs), 3),
                "se": round(statistics.stdev(diffs) / len(diffs) ** 0.5, 3)
                if len(diffs) > 1
                else 0,
                "per_seed_diff": diffs,
                "seconds": round(time.perf_counter() - started, 1),
            }
            print(json.dumps(row), flush=True)
            record["rows"].append(row)
    dp.dockyard_plugins = original
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
