"""Trace loading, arrival tuning, bucketing, replay and the ``dockyard sim`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dockyard.scheduler.framework import PodRequest
from dockyard.sim.arrival import arrival_sequence, node_ranks
from dockyard.sim.cli import app, parse_seeds
from dockyard.sim.expected import expected_mean, load_expected
from dockyard.sim.metrics import allocation_curve, bucket_means
from dockyard.sim.replay import replay
from dockyard.sim.traces import TraceError, load_nodes, load_pods

NODES = "sn,cpu_milli,memory_mib,gpu,model\n" + "".join(
    f"node-{i:02d},{[32000, 64000, 96000][i % 3]},262144,{[1, 2, 4, 8][i % 4]},"
    f"{['T4', 'V100M32'][i % 2]}\n"
    for i in range(64)
)
POD_HEAD = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
    "creation_time,deletion_time,scheduled_time\n"
)


def pod_csv(count: int = 300) -> str:
    rng = np.random.default_rng(3)
    rows = []
    for i in range(count):
        kind = rng.integers(4)
        gpu, milli = [(0, 0), (1, int(rng.choice([230, 470, 810]))), (1, 1000), (2, 1000)][kind]
        rows.append(
            f"pod-{i:04d},{int(rng.choice([2000, 4000, 8000]))},4096,{gpu},{milli},,"
            f"LS,Running,0,1,0\n"
        )
    return POD_HEAD + "".join(rows)


@pytest.fixture
def trace(tmp_path: Path) -> tuple[Path, Path]:
    nodes = tmp_path / "nodes.csv"
    pods = tmp_path / "pods.csv"
    nodes.write_text(NODES)
    pods.write_text(pod_csv())
    return nodes, pods


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("a,1000,10,1,1500,,LS,R,0,0,0", PodRequest("a", 1000, 10, 1, 1000)),
        ("b,1000,10,0,500,T4,LS,R,0,0,0", PodRequest("b", 1000, 10, 0, 0)),
        ("c,1000,10,1,-5,,LS,R,0,0,0", PodRequest("c", 1000, 10, 0, 0)),
        (
            "d,1000,10,1,300,V100M16||V100M32|V100M32,LS,R,0,0,0",
            PodRequest("d", 1000, 10, 1, 300, gpu_models=("V100M16", "V100M32", "V100M32")),
        ),
    ],
    ids=["milli-clamped", "cpu-only-ignores-gpu-fields", "nonpositive-milli", "spec-split"],
)
def test_pod_conversion(tmp_path: Path, row: str, expected: PodRequest) -> None:
    f = tmp_path / "p.csv"
    f.write_text(POD_HEAD + row + "\n")
    assert load_pods(f) == [expected]


def test_bad_trace_names_row_and_column(tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text(POD_HEAD + "a,lots,10,1,300,,LS,R,0,0,0\n")
    with pytest.raises(TraceError, match=r"p.csv:2: column 'cpu_milli'"):
        load_pods(f)


@pytest.mark.parametrize("demand", [0.5, 1.3, 2.0], ids=["tune-down", "default", "tune-up"])
def test_arrival_sequence_reaches_demand(demand: float) -> None:
    pods = [
        PodRequest(f"p{i}", gpu_count=1 + i % 2, gpu_milli=1000 if i % 2 else 500)
        for i in range(100)
    ]
    cluster = 100_000
    seq = arrival_sequence(pods, cluster, demand, np.random.default_rng(0))
    total = sum(p.total_gpu_milli for p in seq)
    target = demand * cluster
    assert target - 1000 < total <= target + 1000  # ≤ one 2-GPU pod over
    if demand > 1.25:  # 1.25 = the list's own demand: the whole list comes first, shuffled
        assert sorted(p.name for p in seq[:100]) == sorted(p.name for p in pods)


def test_arrival_and_ranks_depend_only_on_seed() -> None:
    pods = [PodRequest(f"p{i}", gpu_count=1, gpu_milli=300) for i in range(50)]
    a = arrival_sequence(pods, 10_000, 1.3, np.random.default_rng(5))
    b = arrival_sequence(list(reversed(pods)), 10_000, 1.3, np.random.default_rng(5))
    assert [p.name for p in a] == [p.name for p in b]
    assert sorted(node_ranks(7, np.random.default_rng(1))) == list(range(7))


def test_bucket_means_average_events_and_widen_gaps() -> None:
    arrived = np.array([0, 1000, 2000, 30000, 31000]) * 1.0  # total 10 GPUs: 0, 10, 20, 300, 310 %
    values = np.array([1.0, 2.0, 3.0, 4.0, 6.0])
    out = bucket_means(arrived, values, 10, 310)
    assert out["0"] == 1.0 and out["10"] == 2.0
    assert out["5"] is None and out["309"] == 6.0 and out["301"] == 4.0
    assert allocation_curve(arrived, arrived, 10, 0) == {"0": 0.0}


@pytest.mark.parametrize(
    "policy", ["random", "dotprod", "gpuclustering", "gpupacking", "bestfit", "fgd", "dockyard"]
)
def test_replay_is_deterministic_and_complete(trace: tuple[Path, Path], policy: str) -> None:
    nodes, pods = load_nodes(trace[0]), load_pods(trace[1])
    a = replay(nodes, pods, seed=42, policy=policy)
    b = replay(nodes, pods, seed=42, policy=policy)
    assert a.allocation_pct == b.allocation_pct and a.frag_pct == b.frag_pct
    assert a.total_gpus == 240 and 0 < a.pods_scheduled <= a.pods_arrived
    assert set(a.allocation_pct) == {str(k) for k in range(131)}
    assert a.allocation_pct["130"] is not None and 50 < a.allocation_pct["130"] <= 100


def test_cli_replay_json(trace: tuple[Path, Path]) -> None:
    res = CliRunner().invoke(
        app,
        [
            "replay",
            "--node-list",
            str(trace[0]),
            "--pod-list",
            str(trace[1]),
            "--seed",
            "42",
            "--policy",
            "fgd",
            "-o",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for key in (
        "policy",
        "seed",
        "total_gpus",
        "pods_arrived",
        "pods_scheduled",
        "allocation_pct",
        "frag_pct",
        "wall_seconds",
        "pods_per_second",
    ):
        assert key in out
    assert out["policy"] == "fgd"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "nope"], "--policy: unknown policy"),
        (["--demand", "0"], "--demand"),
        (["--pod-list", "/nonexistent.csv"], "--pod-list: no such file"),
    ],
    ids=["policy", "demand", "missing-file"],
)
def test_cli_replay_rejects_bad_options(
    trace: tuple[Path, Path], args: list[str], message: str
) -> None:
    base = {"--node-list": str(trace[0]), "--pod-list": str(trace[1]), "--seed": "1"}
    for k, v in zip(args[::2], args[1::2], strict=True):
        base[k] = v
    res = CliRunner().invoke(app, ["replay", *[x for kv in base.items() for x in kv]])
    assert res.exit_code == 1
    assert message in res.output


def test_cli_compare_with_expected(trace: tuple[Path, Path], tmp_path: Path) -> None:
    exp = tmp_path / "allo.csv"
    cols = ",".join(str(k) for k in range(131))
    vals = ",".join("50.0" for _ in range(131))
    exp.write_text(
        f"workload,sc_policy,tune,seed,total_gpus,{cols}\n"
        f"openb_pod_list_pods,06-FGD,1.3,42,60,{vals}\n"
        f"openb_pod_list_pods,06-FGD,1.3,43,60,{vals.replace('50.0', '52.0')}\n"
    )
    runs = load_expected(exp)
    assert expected_mean(runs, "pods", "fgd", 130) == 51.0
    res = CliRunner().invoke(
        app,
        [
            "compare",
            "--node-list",
            str(trace[0]),
            "--pod-list",
            str(trace[1]),
            "--policy",
            "fgd",
            "--seeds",
            "42-43",
            "--expected",
            str(exp),
            "-o",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout)[0]
    assert row["authors"]["130"] == 51.0 and row["seeds"] == [42, 43]


@pytest.mark.parametrize(
    ("text", "seeds"), [("42-44", [42, 43, 44]), ("1,5", [1, 5]), ("7", [7]), ("1-2,9", [1, 2, 9])]
)
def test_parse_seeds(text: str, seeds: list[int]) -> None:
    assert parse_seeds(text) == seeds
