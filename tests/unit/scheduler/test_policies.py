"""Integer scores of the paper's policies on hand-built nodes (values from the protocol)."""

from __future__ import annotations

import numpy as np
import pytest
from sched_builders import cluster, make_pod, node, occupy

from dockyard.scheduler.framework import CycleState, DeviceShare, Framework, PodRequest
from dockyard.scheduler.plugins import (
    BestFitScore,
    DotProductScore,
    FgdScore,
    GpuClusteringScore,
    GpuPackingScore,
    TypicalPods,
    policy_profile,
)
from dockyard.scheduler.plugins.frag import FragModel


def scores(plugin: object, pod: PodRequest, snap: object) -> list[float]:
    out = plugin.score(CycleState(), pod, snap, np.arange(len(snap)))  # type: ignore[attr-defined]
    return [float(x) for x in out]


def packing_cluster():  # type: ignore[no-untyped-def]
    snap = cluster(
        node("idle1", gpus=1), node("idle8", gpus=8), node("used", gpus=4), node("shared", gpus=2)
    )
    occupy(snap, "used", [1000, 0, 0, 0])
    occupy(snap, "shared", [650, 0])
    return snap


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        (make_pod().gpu_milli(300).build(), [32, 25, 49, 97]),
        (make_pod().gpus(1).build(), [32, 25, 49, 49]),
        (make_pod().gpus(2).build(), [32, 25, 48, 49]),
        (make_pod().build(), [0, 0, 0, 0]),
    ],
    ids=["share-prefers-used-gpu", "whole-prefers-used-node", "two-gpus", "cpu-only"],
)
def test_gpu_packing(pod: PodRequest, expected: list[float]) -> None:
    # 'shared' has 350 free on device 0: case 1 → 100 - floor(35/10) = 97.
    assert scores(GpuPackingScore(), pod, packing_cluster()) == expected


def test_gpu_clustering_offsets() -> None:
    snap = cluster(
        node("empty", gpus=8), node("same", gpus=8), node("mixed", gpus=8), node("other", gpus=8)
    )
    share = make_pod().gpu_milli(500).build()
    whole = make_pod().gpus(1).build()
    for name, pods in [("same", [share]), ("mixed", [share, whole]), ("other", [whole])]:
        for i, p in enumerate(pods):
            snap.assume(snap.index[name], p, (DeviceShare(i, p.gpu_milli),))
    # base = floor(25 * used / 8000): 0, 1 (500 used), 4 (1500), 3 (1000)
    assert scores(GpuClusteringScore(), share, snap) == [25, 76, 54, 3]
    assert scores(GpuClusteringScore(), make_pod().build(), snap) == [0, 0, 0, 0]


def test_dot_product_prefers_small_free_vector() -> None:
    snap = cluster(node("big", gpus=8, cpu=128000), node("small", gpus=2, cpu=32000))
    s = scores(DotProductScore(), make_pod().gpus(1).cpu(16000).build(), snap)
    # d = (128k/128k)(16k/128k) + (8000/8000)(1000/8000) = 0.25 → 87; small: 0.03125+0.03125
    assert s == [87.0, 96.0]


def test_best_fit_raw_and_normalized() -> None:
    snap = cluster(node("big", gpus=8, cpu=128000), node("small", gpus=2, cpu=32000))
    plugin = BestFitScore()
    raw = plugin.score(CycleState(), make_pod().gpus(1).cpu(16000).build(), snap, np.arange(2))
    assert list(raw) == [12.0, 87.0]  # trunc(12.5), trunc(87.5)
    assert list(plugin.normalize(CycleState(), make_pod().build(), raw)) == [0.0, 100.0]


def test_typical_pods_order_cut_and_probabilities() -> None:
    pods = (
        [make_pod().gpu_milli(500).cpu(4000).build()] * 50
        + [make_pod().gpus(1).cpu(8000).build()] * 30
        + [make_pod().cpu(2000).build()] * 16
        + [make_pod().gpu_milli(100).build()] * 4
    )
    t = TypicalPods.from_pods(pods)
    assert t.shapes == ((4000, 500, 1, ""), (8000, 1000, 1, ""), (2000, 0, 0, ""))
    assert t.probs == pytest.approx((50 / 96, 30 / 96, 16 / 96))


def test_fragmentation_of_node_states() -> None:
    t = TypicalPods(((4000, 500, 1, ""), (8000, 1000, 1, ""), (2000, 0, 0, "")), (0.5, 0.25, 0.25))
    m = FragModel(t, ["A100"])
    free = np.array([[1000, 1000], [300, 600], [300, 0], [1000, 1000]])
    cpu = np.array([64000, 64000, 64000, 6000])
    f = m.frag(cpu, free, np.zeros(4, dtype=np.int64))
    # idle: only the cpu-only shape counts it all → 0.25·2000
    # [300, 600]: 500-shape fits, 300 is a fragment; 1000-shape does not fit → 900
    # [300, 0]: nothing fits → 300; low cpu: 1000-shape lacks cpu → 0.25·2000 + 0.25·2000
    assert list(f) == pytest.approx([500, 0.5 * 300 + 0.25 * 900 + 0.25 * 900, 300, 1000])


def test_fgd_picks_device_that_keeps_gpus_whole() -> None:
    t = TypicalPods(((4000, 500, 1, ""), (8000, 1000, 1, "")), (0.5, 0.5))
    snap = cluster(node("a", gpus=2))
    occupy(snap, "a", [500, 0])
    fgd = FgdScore(t)
    pod = make_pod().gpu_milli(500).cpu(4000).build()
    assert fgd.assign(CycleState(), pod, snap, 0) == (DeviceShare(0, 500),)


@pytest.mark.parametrize(
    "policy", ["random", "dotprod", "gpuclustering", "gpupacking", "bestfit", "fgd", "dockyard"]
)
def test_every_policy_places_and_never_overcommits(policy: str) -> None:
    rng = np.random.default_rng(1)
    snap = cluster(*[node(f"n{i}", gpus=[1, 2, 4, 8][i % 4]) for i in range(8)])
    pods = [
        make_pod(f"p{i}").gpu_milli(int(rng.integers(1, 11)) * 100).cpu(2000).build()
        for i in range(80)
    ]
    f = Framework(policy_profile(policy, TypicalPods.from_pods(pods), rng))
    placed = []
    for p in pods:
        d = f.schedule(p, snap)
        if d.scheduled:
            f.commit(p, snap, d)
            placed.append(p)
    assert len(placed) > 40
    assert (snap.gpu_free >= 0).all() and (snap.cpu_free >= 0).all()
    assert snap.used_gpu_milli == sum(p.total_gpu_milli for p in placed)


def test_eventual_waste_counts_gaps_no_share_can_fill() -> None:
    from dockyard.scheduler.plugins.dockyard_policy import eventual_waste

    t = TypicalPods(((4000, 500, 1, ""), (8000, 1000, 1, ""), (2000, 0, 0, "")), (0.4, 0.4, 0.2))
    w = eventual_waste(t)
    assert w[0] == 0 and w[1000] == 0  # a whole free device is not waste
    assert w[400] == 400  # no typical share fits: lost
    assert list(w[[500, 700, 999]]) == pytest.approx([0, 200, 499])  # 500s fill, rest is lost
    rare = eventual_waste(t, fill_mass=0.8)  # shares fill a gap only half the time
    assert rare[500] == pytest.approx(250)


def test_dockyard_tie_breaks_stay_inside_one_fgd_point() -> None:
    from dockyard.scheduler.plugins.dockyard_policy import DockyardScore

    rng = np.random.default_rng(3)
    snap = cluster(*[node(f"n{i}", gpus=[2, 4, 8][i % 3]) for i in range(12)])
    shapes = [
        make_pod(f"p{i}").gpu_milli(m).cpu(2000).build()
        for i, m in enumerate([810, 470, 470, 320, 650, 160, 1000, 1000])
    ]
    t = TypicalPods.from_pods(shapes)
    for j in range(12):
        free = [int(rng.integers(0, 11)) * 100 for _ in range(int(snap.gpu_count[j]))]
        occupy(snap, f"n{j}", [1000 - f for f in free])
    ours = DockyardScore(t, strand_weight=0.0, share_temperature=1000.0)
    fgd = FgdScore(t)
    for pod in [*shapes, make_pod("c").cpu(4000).build()]:
        nodes = np.flatnonzero((snap.gpu_free >= max(pod.gpu_milli, 1)).any(axis=1))
        a = ours.score(CycleState(), pod, snap, nodes)
        b = fgd.score(CycleState(), pod, snap, nodes)
        assert (np.floor(a) == b).all()


def test_cpu_stranding_counts_gpus_left_without_cpu() -> None:
    from dockyard.scheduler.plugins.dockyard_policy import cpu_stranding

    got = cpu_stranding(np.array([96000, 24000, 0]), np.array([8000, 4000, 1000]), 12.0)
    # 96 cores serve 8 GPUs; 24 cores serve 2 of 4; no cores strand the whole GPU
    assert list(got) == pytest.approx([0, 2000, 1000])


def test_dockyard_sends_cpu_heavy_pods_to_cpu_rich_nodes() -> None:
    from dockyard.scheduler.plugins.dockyard_policy import DockyardScore

    t = TypicalPods(((4000, 1000, 1, ""), (4000, 500, 1, "")), (0.5, 0.5))
    # 4 free GPUs each; "poor" has 14 cores per free GPU, "rich" 104: FGD sees no difference for a
    # 24-core pod (typical pods still fit on both), Dockyard charges the GPUs it strands
    snap = cluster(node("poor", gpus=8, cpu=56000), node("rich", gpus=8, cpu=416000))
    occupy(snap, "poor", [1000] * 4)
    occupy(snap, "rich", [1000] * 4)
    heavy = make_pod("heavy").gpus(1).cpu(24000).build()
    cpu_only = make_pod("cpu").cpu(32000).build()
    for pod in (heavy, cpu_only):
        fgd = scores(FgdScore(t), pod, snap)
        assert fgd[0] == fgd[1]
        ours = scores(DockyardScore(t), pod, snap)
        assert ours[1] > ours[0]


def test_share_temperature_widens_score_steps() -> None:
    from dockyard.scheduler.plugins.fgd import sigmoid_score

    delta = np.array([0.0, 50.0, 150.0])
    assert list(sigmoid_score(delta)) == [50, 51, 53]  # FGD: a point per ~40 milli
    assert list(sigmoid_score(delta, 3000.0)) == [50, 50, 51]  # a point per ~120 milli
