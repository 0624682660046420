"""cgroup layouts against a directory tree that behaves like cgroupfs (v1 and v2)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.node.sandbox import SandboxError, SandboxLimits
from dockyard.node.sandbox._cgroups import (
    PodCgroup,
    V1Layout,
    V2Layout,
    _oom_kills,
    v1_mounts,
)

V2_FILES = ("cgroup.procs", "cgroup.kill", "memory.max", "memory.swap.max", "memory.events",
            "cpu.max", "pids.max", "cgroup.controllers", "cgroup.subtree_control")  # fmt: skip
V1_FILES = {
    "memory": ("cgroup.procs", "memory.limit_in_bytes", "memory.memsw.limit_in_bytes",
               "memory.swappiness", "memory.oom_control"),
    "pids": ("cgroup.procs", "pids.max"),
    "cpu": ("cgroup.procs", "cpu.cfs_period_us", "cpu.cfs_quota_us"),
}  # fmt: skip


def kernel_mkdir(files: tuple[str, ...]) -> Callable[[Path], None]:
    """Like cgroupfs: a new cgroup directory comes with its interface files."""

    def make(path: Path) -> None:
        if path.exists() and (path / "cgroup.procs").read_text().strip():
            raise SandboxError(f"cgroup {path} already holds processes")
        path.mkdir(exist_ok=True)
        for name in files:
            (path / name).touch()

    return make


@pytest.fixture
def v2_root(tmp_path: Path) -> Path:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    return tmp_path


def test_v2_parent_delegates_controllers(v2_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[tuple[str, str]] = []

    def fake_write(path: Path, value: str) -> None:
        writes.append((str(path.relative_to(v2_root)), value))
        if path.name == "cgroup.subtree_control":
            current = path.read_text().split()
            path.write_text(" ".join([*current, value.lstrip("+")]))
        else:
            path.write_text(value)

    monkeypatch.setattr("dockyard.node.sandbox._cgroups._write", fake_write)
    (v2_root / "dockyard").mkdir()
    (v2_root / "dockyard/cgroup.controllers").write_text("cpu memory pids\n")
    (v2_root / "dockyard/cgroup.subtree_control").write_text("")

    V2Layout(v2_root).ensure_parent()

    assert ("cgroup.subtree_control", "+memory") in writes
    assert ("dockyard/cgroup.subtree_control", "+pids") in writes
    assert set((v2_root / "dockyard/cgroup.subtree_control").read_text().split()) == {
        "memory", "pids", "cpu",
    }  # fmt: skip


def test_v2_parent_without_memory_is_refused(v2_root: Path) -> None:
    (v2_root / "cgroup.controllers").write_text("cpu\n")
    (v2_root / "dockyard").mkdir()
    (v2_root / "dockyard/cgroup.controllers").write_text("cpu\n")
    (v2_root / "dockyard/cgroup.subtree_control").write_text("")
    with pytest.raises(OSError, match="memory"):
        V2Layout(v2_root, make_dir=kernel_mkdir(V2_FILES)).ensure_parent()


@pytest.mark.parametrize(
    ("limits", "want"),
    [
        (
            SandboxLimits(64 << 20, 500, 32),
            {"memory.max": str(64 << 20), "memory.swap.max": "0", "cpu.max": "50000 100000",
             "pids.max": "32"},
        ),
        (
            SandboxLimits(None, None, None),
            {"memory.max": "max", "memory.swap.max": "", "cpu.max": "max 100000",
             "pids.max": "1024"},
        ),
        (
            SandboxLimits(None, 1, None),
            {"memory.max": "max", "memory.swap.max": "", "cpu.max": "1000 100000",
             "pids.max": "1024"},
        ),
    ],
    ids=["all-limits", "unlimited-defaults-pids", "tiny-cpu-clamped"],
)  # fmt: skip
def test_v2_pod_cgroup_limits(v2_root: Path, limits: SandboxLimits, want: dict[str, str]) -> None:
    (v2_root / "dockyard").mkdir()
    layout = V2Layout(v2_root, make_dir=kernel_mkdir(V2_FILES))

    cgroup = layout.create("abc", limits)

    leaf = v2_root / "dockyard/pod-abc"
    assert {name: (leaf / name).read_text() for name in want} == want
    assert cgroup.driver == "v2"
    assert cgroup.procs_files == [leaf / "cgroup.procs"]
    assert cgroup.oom_file == leaf / "memory.events"
    assert cgroup.kill_file == leaf / "cgroup.kill"


def test_v1_pod_cgroup_limits(tmp_path: Path) -> None:
    mounts = {c: tmp_path / c for c in V1_FILES}
    for m in mounts.values():
        (m / "dockyard").mkdir(parents=True)

    def make(path: Path) -> None:
        controller = path.parent.parent.name
        kernel_mkdir(V1_FILES[controller])(path)

    cgroup = V1Layout(mounts, make_dir=make).create("p", SandboxLimits(1 << 30, 2500, None))

    mem, pids, cpu = (mounts[c] / "dockyard/pod-p" for c in ("memory", "pids", "cpu"))
    assert (mem / "memory.limit_in_bytes").read_text() == str(1 << 30)
    assert (mem / "memory.memsw.limit_in_bytes").read_text() == str(1 << 30)
    assert (pids / "pids.max").read_text() == "1024"
    assert (cpu / "cpu.cfs_quota_us").read_text() == "250000"
    assert (cpu / "cpu.cfs_period_us").read_text() == "100000"
    assert cgroup.oom_file == mem / "memory.oom_control"
    assert sorted(cgroup.procs_files) == sorted(d / "cgroup.procs" for d in (mem, pids, cpu))


def test_populated_cgroup_is_not_reused(v2_root: Path) -> None:
    leaf = v2_root / "dockyard/pod-busy"
    leaf.mkdir(parents=True)
    (leaf / "cgroup.procs").write_text("123\n")
    with pytest.raises(SandboxError, match="already holds processes"):
        V2Layout(v2_root).create("busy", SandboxLimits(None, None, None))


def test_v1_mounts_from_mountinfo(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime shared:5 - cgroup cgroup rw,pids\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
    )
    assert v1_mounts(mountinfo) == {
        "cpu": Path("/sys/fs/cgroup/cpu,cpuacct"),
        "memory": Path("/sys/fs/cgroup/memory"),
        "pids": Path("/sys/fs/cgroup/pids"),
    }


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", 3),
        ("low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\noom_group_kill 0\n", 2),
        ("oom_kill_disable 0\nunder_oom 0\n", 0),
    ],
    ids=["v1-oom-control", "v2-memory-events", "old-kernel-without-counter"],
)
def test_oom_kill_counter(tmp_path: Path, text: str, want: int) -> None:
    path = tmp_path / "events"
    path.write_text(text)
    assert _oom_kills(path) == want


def test_no_cgroup_is_harmless() -> None:
    cgroup = PodCgroup(driver="none")
    assert cgroup.pids() == [] and cgroup.oom_kills() == 0
    assert cgroup.kill_all() and cgroup.remove()
    assert PodCgroup.from_json(cgroup.to_json()) == cgroup
