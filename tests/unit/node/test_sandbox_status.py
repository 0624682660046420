"""Reading a Pod's records into a SandboxStatus, and process identity from /proc."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import dockyard.node.sandbox as sandbox_pkg
from dockyard.node.sandbox import _procs
from dockyard.node.sandbox._layout import StateLayout
from dockyard.node.sandbox._status import boot_seconds, format_record, read_status

T0, T1 = "100.25", "103.5"  # seconds since boot, as the supervisor records them


@pytest.fixture
def layout(tmp_path: Path) -> StateLayout:
    layout = StateLayout(tmp_path)
    layout.status.mkdir()
    return layout


def wall_clock(since_boot: float) -> datetime:
    return datetime.fromtimestamp(time.time() - boot_seconds() + since_boot, tz=UTC)


def record(layout: StateLayout, name: str, **fields: str) -> None:
    text = "".join(f"{k}={v}\n" for k, v in fields.items())
    (layout.status / name).write_text(text)


def test_no_records_yet_means_waiting(layout: StateLayout) -> None:
    status = read_status(layout, ["init"], ["app"], alive=True, cgroup_oom_kills=0)
    assert not status.finished
    assert [(c.state, c.reason) for c in status.init_containers] == [("waiting", "PodInitializing")]
    assert [(c.state, c.reason) for c in status.containers] == [("waiting", "PodInitializing")]


def test_records_are_parsed(layout: StateLayout) -> None:
    record(
        layout,
        "c-init",
        state="terminated",
        restart_count="0",
        started_boot=T0,
        finished_boot=T1,
        exit_code="0",
        reason="Completed",
        last_exit_code="",
    )
    record(layout, "c-app", state="waiting", restart_count="2", started_boot="", finished_boot="",
           exit_code="", reason="CrashLoopBackOff", last_exit_code="3")  # fmt: skip

    status = read_status(layout, ["init"], ["app"], alive=True, cgroup_oom_kills=0)

    (init,) = status.init_containers
    assert init.started_at is not None and init.finished_at is not None
    assert (init.finished_at - init.started_at).total_seconds() == pytest.approx(3.25, abs=1e-3)
    assert init.started_at == pytest.approx(wall_clock(100.25), abs=timedelta(milliseconds=50))
    assert (init.state, init.exit_code, init.reason) == ("terminated", 0, "Completed")
    (app,) = status.containers
    assert (app.state, app.restart_count, app.reason, app.last_exit_code) == (
        "waiting", 2, "CrashLoopBackOff", 3,
    )  # fmt: skip


def test_appended_records_latest_complete_line_wins(layout: StateLayout) -> None:
    path = layout.status / "c-app"
    running = format_record(state="running", restart_count="0", started_boot=T0)
    done = format_record(
        state="terminated", restart_count="0", started_boot=T0, finished_boot=T1,
        exit_code="3", reason="Error", last_exit_code="",
    )  # fmt: skip
    path.write_text(running)
    status = read_status(layout, [], ["app"], alive=True, cgroup_oom_kills=0)
    assert status.containers[0].state == "running"

    # A record still being appended (no newline yet) is not read; the one before stands.
    path.write_text(running + done[:-12])
    status = read_status(layout, [], ["app"], alive=True, cgroup_oom_kills=0)
    assert status.containers[0].state == "running"

    path.write_text(running + done)
    app = read_status(layout, [], ["app"], alive=True, cgroup_oom_kills=0).containers[0]
    assert (app.state, app.exit_code, app.reason) == ("terminated", 3, "Error")


def test_a_pod_record_being_written_does_not_finish_the_pod(layout: StateLayout) -> None:
    line = format_record(finished_boot=T1, message="init container x failed with exit code 2")
    (layout.status / "pod").write_text(line[:-1])
    assert not read_status(layout, [], [], alive=True, cgroup_oom_kills=0).finished

    (layout.status / "pod").write_text(line)
    status = read_status(layout, [], [], alive=True, cgroup_oom_kills=0)
    assert status.finished
    assert status.message == "init container x failed with exit code 2"


@pytest.mark.parametrize(
    ("state", "want_exit"),
    [("running", 137), ("waiting", 3), ("terminated", 0)],
    ids=["was-running", "was-backing-off", "had-finished"],
)
def test_dead_sandbox_reports_every_container_terminated(
    layout: StateLayout, state: str, want_exit: int
) -> None:
    done = state == "terminated"
    record(layout, "c-app", state=state, restart_count="1", started_boot=T0,
           finished_boot=T1 if done else "", exit_code="0" if done else "",
           last_exit_code="3")  # fmt: skip

    status = read_status(layout, [], ["app"], alive=False, cgroup_oom_kills=0)

    assert status.finished
    assert status.message == "sandbox exited without recording its end"
    (app,) = status.containers
    assert (app.state, app.exit_code) == ("terminated", want_exit)
    assert app.finished_at is not None


def test_pod_record_finishes_and_adds_setup_errors(layout: StateLayout) -> None:
    record(layout, "pod", finished_boot=T1, message="sandbox exited with code 1")
    layout.sandbox_log.write_text("\nbwrap: Can't mkdir /x: Read-only file system\n\n")

    status = read_status(layout, [], ["app"], alive=False, cgroup_oom_kills=0)

    assert status.finished
    assert status.message == (
        "sandbox exited with code 1: bwrap: Can't mkdir /x: Read-only file system"
    )
    assert status.finished_at == pytest.approx(wall_clock(103.5), abs=timedelta(milliseconds=50))


@pytest.mark.parametrize(
    ("reason", "cgroup_kills", "want"),
    [("Error", 0, False), ("OOMKilled", 0, True), ("Error", 1, True)],
    ids=["no-oom", "container-oom", "cgroup-counted-oom"],
)
def test_oom_killed(layout: StateLayout, reason: str, cgroup_kills: int, want: bool) -> None:
    record(layout, "c-app", state="terminated", exit_code="137", reason=reason)
    status = read_status(layout, [], ["app"], alive=True, cgroup_oom_kills=cgroup_kills)
    assert status.oom_killed is want


def test_start_time_identifies_a_process() -> None:
    child = subprocess.Popen(["sleep", "5"])
    try:
        started = _procs.start_time(child.pid)
        assert started is not None
        assert _procs.is_running(child.pid, started)
        assert not _procs.is_running(child.pid, started + 1)
        assert child.pid in _procs.children_of(os.getpid())
    finally:
        child.kill()
        child.wait()
    assert not _procs.is_running(child.pid, started)
    assert _procs.start_time(child.pid) is None


def test_cpu_seconds_count_a_process_and_the_children_it_reaped() -> None:
    child = subprocess.Popen(["sh", "-c", "timeout 0.3 sh -c 'while :; do :; done'; sleep 5"])
    try:
        deadline = time.monotonic() + 5
        while _procs.cpu_seconds(child.pid) < 0.2 and time.monotonic() < deadline:
            time.sleep(0.05)
        # The busy loop ran in a grandchild the shell reaped: its time is the shell's.
        assert _procs.cpu_seconds(child.pid) >= 0.2
    finally:
        child.kill()
        child.wait()
    assert _procs.cpu_seconds(child.pid) == 0.0


def test_zombie_is_not_running() -> None:
    child = subprocess.Popen(["true"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
    try:
        assert _procs.start_time(child.pid) is not None
        assert not _procs.is_running(child.pid, None)
    finally:
        child.wait()


def test_public_surface_is_exactly_the_contract() -> None:
    assert sorted(sandbox_pkg.__all__) == sorted(
        [
            "ContainerSpec", "ContainerState", "ImageRuntime", "PodSandbox", "PodSandboxSpec",
            "SandboxError", "SandboxLimits", "SandboxStatus", "UnknownImageError",
            "VolumeMountSpec", "VolumeSpec", "cgroup_driver", "register_image",
            "resolve_image", "supported_images",
        ]
    )  # fmt: skip
    for name in sandbox_pkg.__all__:
        assert getattr(sandbox_pkg, name).__module__.startswith("dockyard.node.sandbox")
