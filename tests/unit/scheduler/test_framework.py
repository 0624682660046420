"""The cycle: filters and reasons, host selection and ties, decide/apply, profiles."""

from __future__ import annotations

import numpy as np
import pytest
from sched_builders import cluster, make_pod, node, occupy

from dockyard.scheduler.framework import (
    Code,
    CycleState,
    Decision,
    DeviceShare,
    Framework,
    PodRequest,
    Status,
    device_env,
    profile,
    unschedulable,
)
from dockyard.scheduler.plugins import (
    BestFitDevices,
    BestFitScore,
    GpuFit,
    NodeResourcesFit,
    TypicalPods,
    policy_profile,
)


def fw(*extra: object) -> Framework:
    return Framework(profile("t", GpuFit(), NodeResourcesFit(), BestFitDevices(), *extra))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pod", "feasible", "rejections"),
    [
        (make_pod().cpu(70000).build(), [], {"insufficient cpu": 3}),
        (make_pod().memory(300000).build(), [], {"insufficient memory": 3}),
        (make_pod().gpus(1).build(), ["g2", "g8"], {"no gpu": 1}),
        (make_pod().gpus(4).build(), ["g8"], {"no gpu": 1, "insufficient gpu": 1}),
        (
            make_pod().gpu_milli(300).models("T4").build(),
            [],
            {"no gpu": 1, "gpu model mismatch": 2},
        ),
        (make_pod().gpu_milli(300).models("T4", "A100").build(), ["g2", "g8"], {"no gpu": 1}),
        (
            make_pod().gpu_milli(300).gpu_memory(20000).build(),
            ["g8"],
            {"no gpu": 1, "insufficient gpu": 1},
        ),
    ],
    ids=["cpu", "memory", "one-gpu", "four-gpus", "model-mismatch", "model-ok", "gpu-memory"],
)
def test_filters(pod: PodRequest, feasible: list[str], rejections: dict[str, int]) -> None:
    snap = cluster(
        node("cpu", gpus=0), node("g2", gpus=2, gpu_mem=16000), node("g8", gpus=8, gpu_mem=40000)
    )
    d = fw().schedule(pod, snap)
    if feasible:
        assert d.node in feasible
    else:
        assert d.node is None
        assert dict(d.rejections) == rejections
        assert d.explain().startswith("0/3 nodes are available: ")


def test_explain_counts_like_kube_scheduler() -> None:
    d = Decision(
        "p", None, total_nodes=12, rejections={"insufficient gpu": 8, "insufficient cpu": 4}
    )
    assert d.explain() == "0/12 nodes are available: 8 insufficient gpu, 4 insufficient cpu."


@pytest.mark.parametrize(
    "pod",
    [
        PodRequest("bad-milli", gpu_count=1, gpu_milli=1500),
        PodRequest("zero-milli", gpu_count=1, gpu_milli=0),
        PodRequest("share-no-gpu", gpu_milli=100),
        PodRequest("negative", gpu_count=-1),
    ],
    ids=["milli-over-1000", "milli-zero", "share-without-gpu", "negative-count"],
)
def test_pre_filter_rejects_bad_requests(pod: PodRequest) -> None:
    d = fw().schedule(pod, cluster(node("a")))
    assert d.status.code is Code.UNRESOLVABLE
    assert d.status.plugin == "GpuFit"


def test_ties_go_to_lowest_rank() -> None:
    snap = cluster(node("a"), node("b"), node("c"), rank=[2, 0, 1])
    d = fw(BestFitScore()).schedule(make_pod().gpus(1).build(), snap)
    assert d.node == "b"


def test_best_fit_device_and_env() -> None:
    snap = cluster(node("a", gpus=4))
    occupy(snap, "a", [600, 300, 0, 700])
    d = fw().schedule(make_pod().gpu_milli(300).build(), snap)
    assert d.devices == (DeviceShare(3, 300),)
    assert device_env(d) == {"CUDA_VISIBLE_DEVICES": "3", "DOCKYARD_GPU_MILLI": "300"}
    assert fw().schedule(make_pod().gpus(2).build(), snap).node is None  # one free device
    assert [s.index for s in fw().schedule(make_pod().gpus(1).build(), snap).devices] == [2]


def test_decide_does_not_change_snapshot_and_commit_applies() -> None:
    snap = cluster(node("a", gpus=2))
    pod = make_pod().gpu_milli(400).cpu(2000).build()
    f = fw()
    before = snap.gpu_free.copy()
    d = f.schedule(pod, snap)
    assert (snap.gpu_free == before).all()
    assert f.commit(pod, snap, d).code is Code.SUCCESS
    assert int(snap.gpu_free[0, 0]) == 600 and int(snap.cpu_free[0]) == 62000


class DenyPermit:
    name = "Deny"

    def permit(self, state: CycleState, pod: PodRequest, decision: Decision) -> Status:
        return unschedulable(self.name, "quota")


class CountingReserve:
    name = "Counting"

    def __init__(self) -> None:
        self.held = 0

    def reserve(
        self, state: CycleState, pod: PodRequest, snapshot: object, decision: Decision
    ) -> Status:
        self.held += 1
        return Status()

    def unreserve(
        self, state: CycleState, pod: PodRequest, snapshot: object, decision: Decision
    ) -> None:
        self.held = 0


def test_denied_permit_unreserves() -> None:
    snap = cluster(node("a", gpus=1))
    res = CountingReserve()
    f = fw(res, DenyPermit())
    pod = make_pod().gpus(1).build()
    st = f.commit(pod, snap, f.schedule(pod, snap))
    assert st.code is Code.UNSCHEDULABLE and res.held == 0
    assert int(snap.gpu_free_total[0]) == 1000


@pytest.mark.parametrize(
    ("plugins", "message"),
    [
        ((GpuFit(),), "exactly one device plugin"),
        ((BestFitDevices(), BestFitDevices()), "duplicate"),
        ((BestFitDevices(), (BestFitScore(), 0.0)), "must be > 0"),
    ],
    ids=["no-device-plugin", "duplicate", "zero-weight"],
)
def test_profile_validation(plugins: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        profile("bad", *plugins)  # type: ignore[arg-type]


def test_snapshot_rejects_overcommit() -> None:
    snap = cluster(node("a", gpus=1))
    with pytest.raises(ValueError, match="device 0"):
        snap.assume(0, make_pod().gpu_milli(500).build(), (DeviceShare(0, 1500),))


@pytest.mark.parametrize(
    "policy", ["dotprod", "gpuclustering", "gpupacking", "bestfit", "fgd", "dockyard"]
)
def test_score_cache_matches_fresh_framework(policy: str) -> None:
    """Cached per-shape scores must equal a cold framework's after every placement."""
    rng = np.random.default_rng(7)
    nodes = [
        node(f"n{i}", gpus=int(rng.choice([1, 2, 4, 8])), cpu=int(rng.choice([32, 64, 96])) * 1000)
        for i in range(12)
    ]
    shapes = [
        make_pod().gpu_milli(m).cpu(c).build() for m, c in [(250, 4000), (500, 8000), (810, 3000)]
    ] + [
        make_pod().gpus(1).cpu(8000).build(),
        make_pod().gpus(2).cpu(16000).build(),
        make_pod().cpu(12000).build(),
    ]
    typical = TypicalPods.from_pods(shapes)
    snap = cluster(*nodes, rank=list(rng.permutation(12)))
    warm = Framework(policy_profile(policy, typical))
    for i in range(60):
        pod = shapes[int(rng.integers(len(shapes)))]
        d = warm.schedule(pod, snap)
        cold = Framework(policy_profile(policy, typical)).schedule(pod, snap)
        assert (d.node, d.devices) == (cold.node, cold.devices), i
        if d.scheduled:
            warm.commit(pod, snap, d)
