"""GPU discovery and host capacity, against fake probes and fake /proc and cgroup trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.node.capacity import host_capacity
from dockyard.node.gpus import GpuDevice, discover_gpus, parse_nvidia_smi

H100 = GpuDevice(0, "GPU-aaaa", "NVIDIA H100 80GB HBM3", 81559)

SMI_OUTPUT = (
    "1, GPU-bbbb, NVIDIA A100-SXM4-40GB, 40960\n"
    "0, GPU-aaaa, NVIDIA H100 80GB HBM3, 81559\n"
    "\n"
    "garbage line\n"
    "2, GPU-cccc, Weird, Model, Name, 1024\n"
)


def test_parse_nvidia_smi_sorts_and_skips_garbage() -> None:
    assert parse_nvidia_smi(SMI_OUTPUT) == [
        H100,
        GpuDevice(1, "GPU-bbbb", "NVIDIA A100-SXM4-40GB", 40960),
        GpuDevice(2, "GPU-cccc", "Weird, Model, Name", 1024),
    ]


def _nvml_fails() -> list[GpuDevice]:
    raise RuntimeError("NVML Shared Library Not Found")


@pytest.mark.parametrize(
    ("nvml", "smi", "want"),
    [
        (lambda: [H100], lambda: "should not be asked", [H100]),
        (_nvml_fails, lambda: "0, GPU-aaaa, NVIDIA H100 80GB HBM3, 81559\n", [H100]),
        (lambda: [], lambda: "0, GPU-aaaa, NVIDIA H100 80GB HBM3, 81559\n", [H100]),
        (_nvml_fails, lambda: None, []),
    ],
    ids=["nvml", "nvml-broken-smi-works", "no-pynvml-smi-works", "cpu-only-node"],
)
def test_discover_gpus_prefers_nvml_then_smi(nvml: object, smi: object, want: object) -> None:
    assert discover_gpus(nvml=nvml, nvidia_smi=smi) == want  # type: ignore[arg-type]


def fake_host(tmp_path: Path, cgroup_line: str) -> tuple[Path, Path]:
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "meminfo").write_text("MemTotal:       16384000 kB\nMemFree:  1 kB\n")
    (proc / "self/cgroup").write_text(cgroup_line)
    return proc, tmp_path / "cgroup"


def test_capacity_without_cgroup_limits_is_the_hardware(tmp_path: Path) -> None:
    proc, cg = fake_host(tmp_path, "0::/\n")
    cg.mkdir()
    cap = host_capacity(proc, cg, gpus=[H100])
    assert cap.memory_bytes == 16384000 * 1024
    assert cap.cpu_millis >= 1000 and cap.cpu_millis % 1000 == 0
    assert cap.gpus == [H100]


def test_capacity_respects_v2_limits_up_the_tree(tmp_path: Path) -> None:
    proc, cg = fake_host(tmp_path, "0::/slice/agent\n")
    (cg / "slice/agent").mkdir(parents=True)
    (cg / "cgroup.controllers").write_text("cpu memory pids\n")
    (cg / "slice/memory.max").write_text("1073741824\n")
    (cg / "slice/agent/memory.max").write_text("max\n")
    (cg / "slice/agent/cpu.max").write_text("50000 100000\n")

    cap = host_capacity(proc, cg, gpus=[])

    assert cap.memory_bytes == 1 << 30
    assert cap.cpu_millis == 500


def test_capacity_respects_v1_limits(tmp_path: Path) -> None:
    proc, cg = fake_host(tmp_path, "4:memory:/box\n1:cpu,cpuacct:/box\n")
    (cg / "memory/box").mkdir(parents=True)
    (cg / "cpu/box").mkdir(parents=True)
    (cg / "memory/box/memory.limit_in_bytes").write_text("536870912\n")
    (cg / "memory/memory.limit_in_bytes").write_text("9223372036854771712\n")
    (cg / "cpu/box/cpu.cfs_quota_us").write_text("150000\n")
    (cg / "cpu/box/cpu.cfs_period_us").write_text("100000\n")
    (cg / "cpu/cpu.cfs_quota_us").write_text("-1\n")
    (cg / "cpu/cpu.cfs_period_us").write_text("100000\n")

    cap = host_capacity(proc, cg, gpus=[])

    assert cap.memory_bytes == 512 << 20
    assert cap.cpu_millis == min(1500, cap.cpu_millis)
    assert cap.cpu_millis <= 1500


def test_real_host_capacity_is_positive() -> None:
    cap = host_capacity(gpus=[])
    assert cap.cpu_millis > 0 and cap.memory_bytes > 0
