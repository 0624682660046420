"""One replay: a policy places an arrival sequence onto an empty cluster, pod by pod.

Each pod goes through ``Framework.schedule`` and, when placed, ``Framework.commit`` on a
``ClusterSnapshot`` (the live scheduler's code path). A pod that fits nowhere is dropped and
never retried; pods never leave. Typical pods (for FGD-style policies and the fragmentation
measure) come from the untuned pod list.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from dockyard.scheduler.framework import ClusterSnapshot, Framework, NodeSpec, PodRequest
from dockyard.scheduler.plugins import DEFAULT_POLICY, FragModel, TypicalPods, policy_profile
from dockyard.sim.arrival import arrival_sequence, node_ranks
from dockyard.sim.metrics import allocation_curve, frag_curve


@dataclass(frozen=True)
class ReplayResult:
    """Outcome of one replay; ``allocation_pct``/``frag_pct`` map demand % ("0".."130")."""

    policy: str
    seed: int
    workload: str
    demand: float
    total_gpus: int
    nodes: int
    pods_arrived: int
    pods_scheduled: int
    allocation_pct: dict[str, float | None]
    frag_pct: dict[str, float | None]
    wall_seconds: float
    pods_per_second: float

    def to_json(self) -> dict[str, Any]:
        """A plain dict for ``json.dumps``."""
        return asdict(self)


def replay(
    nodes: Sequence[NodeSpec],
    pods: Sequence[PodRequest],
    *,
    seed: int,
    policy: str = DEFAULT_POLICY,
    demand: float = 1.3,
    workload: str = "",
    measure_frag: bool = True,
) -> ReplayResult:
    """Replay ``pods`` onto ``nodes`` with ``policy`` (see module docstring).

    The seed drives the shuffle, the resampling, the node tie-break ranks and the Random
    policy. ``measure_frag=False`` skips the fragmentation curve (it costs one node
    fragmentation evaluation per placement).
    """
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    typical = TypicalPods.from_pods(pods)
    snapshot_nodes = sorted(nodes, key=lambda n: n.name)
    cluster_milli = sum(n.gpu_count for n in snapshot_nodes) * 1000
    sequence = arrival_sequence(pods, cluster_milli, demand, rng)
    snapshot = ClusterSnapshot.from_nodes(snapshot_nodes, node_ranks(len(snapshot_nodes), rng))
    framework = Framework(policy_profile(policy, typical, np.random.default_rng([seed, 1])))
    frag_model = FragModel(typical, snapshot.models)
    node_frag = frag_model.frag(snapshot.cpu_free, snapshot.gpu_free, snapshot.model_id)
    frag_total = float(node_frag.sum())

    count = len(sequence)
    arrived = np.empty(count)
    used = np.empty(count)
    frag = np.empty(count)
    arrived_milli = 0
    used_milli = 0
    scheduled = 0
    for i, pod in enumerate(sequence):
        arrived_milli += pod.total_gpu_milli
        decision = framework.schedule(pod, snapshot)
        if decision.scheduled:
            framework.commit(pod, snapshot, decision)
            scheduled += 1
            used_milli += pod.total_gpu_milli
            if measure_frag:
                j = np.array([decision.node_index])
                new = frag_model.frag(
                    snapshot.cpu_free[j], snapshot.gpu_free[j], snapshot.model_id[j]
                )[0]
                frag_total += float(new - node_frag[decision.node_index])
                node_frag[decision.node_index] = new
        arrived[i] = arrived_milli
        used[i] = used_milli
        frag[i] = frag_total
    wall = time.perf_counter() - started

    total_gpus = cluster_milli // 1000
    max_pct = max(130, round(demand * 100))
    return ReplayResult(
        policy=policy,
        seed=seed,
        workload=workload,
        demand=demand,
        total_gpus=total_gpus,
        nodes=len(snapshot_nodes),
        pods_arrived=count,
        pods_scheduled=scheduled,
        allocation_pct=allocation_curve(arrived, used, total_gpus, max_pct),
        frag_pct=(frag_curve(arrived, frag, total_gpus, max_pct) if measure_frag else {}),
        wall_seconds=round(wall, 3),
        pods_per_second=round(count / wall, 1) if wall else 0.0,
    )
