"""Runs real Pod sandboxes: bubblewrap, uid 65534, per-Pod cgroups, real processes."""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dockyard.node.sandbox import (
    PodSandbox,
    PodSandboxSpec,
    SandboxError,
    SandboxStatus,
    UnknownImageError,
    VolumeMountSpec,
    _procs,
    cgroup_driver,
)
from dockyard.node.sandbox.testing import make_pod

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("bwrap") is None or shutil.which("setpriv") is None,
    reason="sandbox integration tests need root, bubblewrap and setpriv",
)

RunPod = Callable[[PodSandboxSpec], PodSandbox]
needs_cgroups = pytest.mark.skipif(cgroup_driver() == "none", reason="cgroups not writable")


def wait_finished(sandbox: PodSandbox, timeout: float = 20.0) -> SandboxStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = sandbox.status()
        if status.finished and not sandbox.alive():
            return status
        time.sleep(0.01)
    raise AssertionError(f"sandbox did not finish in {timeout}s: {sandbox.status()}")


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def log_text(sandbox: PodSandbox, container: str) -> str:
    try:
        return sandbox.log_path(container).read_text()
    except FileNotFoundError:
        return ""


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


# --- running containers ------------------------------------------------------------------


def test_hello_world_exits_zero_and_logs_stdout_and_stderr(pod_root: Path, run_pod: RunPod) -> None:
    spec = make_pod(pod_root / "pod").sh("main", "echo hello; echo oops >&2").build()
    sandbox = run_pod(spec)

    status = wait_finished(sandbox)

    (main,) = status.containers
    assert (main.state, main.exit_code, main.reason) == ("terminated", 0, "Completed")
    assert main.started_at is not None and main.finished_at is not None
    assert main.started_at <= main.finished_at
    # Records are kept in seconds since boot; reported times are wall-clock.
    assert abs((main.started_at - datetime.now(UTC)).total_seconds()) < 30
    assert sandbox.log_path("main").read_text() == "hello\noops\n"
    assert status.message is None and not status.oom_killed


@pytest.mark.parametrize(
    ("script", "exit_code"),
    [("exit 3", 3), ("kill -TERM $$", 143), ("no-such-command", 127)],
    ids=["exit-3", "killed-by-term", "command-not-found"],
)
def test_non_zero_exit_is_terminated_error(
    pod_root: Path, run_pod: RunPod, script: str, exit_code: int
) -> None:
    sandbox = run_pod(make_pod(pod_root / "pod").sh("main", script).build())

    (main,) = wait_finished(sandbox).containers

    assert (main.state, main.exit_code, main.reason) == ("terminated", exit_code, "Error")
    assert main.restart_count == 0


def test_environment_is_clean_and_identity_is_the_pods(
    pod_root: Path, run_pod: RunPod, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTROL_PLANE_SECRET", "leak")
    spec = (
        make_pod(pod_root / "pod", name="envpod")
        .hostname("trainer-0")
        .extra_env(CUDA_VISIBLE_DEVICES="0")
        .sh("main", "env | sort; id -u; id -g; hostname; pwd", env={"FOO": "bar baz"})
        .build()
    )
    sandbox = run_pod(spec)
    wait_finished(sandbox)

    lines = sandbox.log_path("main").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines if "=" in line)
    assert env["FOO"] == "bar baz"
    assert env["CUDA_VISIBLE_DEVICES"] == "0"
    assert env["HOSTNAME"] == "trainer-0"
    assert env["HOME"] == "/work"
    assert "CONTROL_PLANE_SECRET" not in env
    # `sh -c` adds PWD itself; nothing else beyond what the Pod asked for.
    assert set(env) == {"PATH", "HOME", "HOSTNAME", "FOO", "CUDA_VISIBLE_DEVICES", "PWD"}
    assert lines[-4:] == ["65534", "65534", "trainer-0", "/work"]


# --- init containers and restarts --------------------------------------------------------


@pytest.mark.parametrize(
    ("second_init_exit", "want_order", "want_app_state", "want_message"),
    [
        (0, ["init-a", "init-b", "app"], "terminated", None),
        (4, ["init-a", "init-b"], "waiting", "init container init-b failed with exit code 4"),
    ],
    ids=["all-inits-succeed", "second-init-fails"],
)
def test_init_containers_run_in_order_and_stop_on_failure(
    pod_root: Path,
    run_pod: RunPod,
    second_init_exit: int,
    want_order: list[str],
    want_app_state: str,
    want_message: str | None,
) -> None:
    spec = (
        make_pod(pod_root / "pod")
        .sh("init-a", "sleep 0.05; echo init-a >> /work/order", init=True)
        .sh("init-b", f"echo init-b >> /work/order; exit {second_init_exit}", init=True)
        .sh("app", "echo app >> /work/order")
        .build()
    )
    sandbox = run_pod(spec)

    status = wait_finished(sandbox)

    assert (pod_root / "pod/work/order").read_text().split() == want_order
    assert [c.exit_code for c in status.init_containers] == [0, second_init_exit]
    assert status.containers[0].state == want_app_state
    assert status.message == want_message


def test_on_failure_restarts_until_success_counting_restarts(
    pod_root: Path, run_pod: RunPod
) -> None:
    script = "n=$(($(cat /work/n 2>/dev/null || echo 0) + 1)); echo $n > /work/n; "
    script += 'echo "attempt $n"; [ "$n" -ge 3 ]'
    spec = make_pod(pod_root / "pod").restart("OnFailure").sh("main", script).build()
    sandbox = run_pod(spec)

    (main,) = wait_finished(sandbox).containers

    assert (main.state, main.exit_code, main.reason) == ("terminated", 0, "Completed")
    assert main.restart_count == 2
    assert main.last_exit_code == 1
    # Logs are appended across restarts.
    assert sandbox.log_path("main").read_text() == "attempt 1\nattempt 2\nattempt 3\n"


def test_always_restarts_even_successful_containers(pod_root: Path, run_pod: RunPod) -> None:
    spec = make_pod(pod_root / "pod").restart("Always").sh("main", "echo run").build()
    sandbox = run_pod(spec)

    wait_for(lambda: sandbox.status().containers[0].restart_count >= 2)

    status = sandbox.status()
    assert not status.finished
    assert sandbox.log_path("main").read_text().count("run") >= 2


def test_never_does_not_restart_a_failed_container(pod_root: Path, run_pod: RunPod) -> None:
    spec = make_pod(pod_root / "pod").sh("main", "echo once; exit 1").build()
    sandbox = run_pod(spec)

    (main,) = wait_finished(sandbox).containers

    assert (main.exit_code, main.restart_count) == (1, 0)
    assert sandbox.log_path("main").read_text() == "once\n"


# --- what containers of one Pod share ----------------------------------------------------


def test_containers_share_tmp_and_loopback(pod_root: Path, run_pod: RunPod) -> None:
    server = textwrap.dedent(
        """
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        with open("/tmp/port.tmp", "w") as f:
            f.write(str(s.getsockname()[1]))
        import os; os.rename("/tmp/port.tmp", "/tmp/port")
        conn, _ = s.accept()
        conn.sendall(b"hello from server")
        conn.close()
        """
    )
    client = textwrap.dedent(
        """
        import os, socket, time
        while not os.path.exists("/tmp/port"):
            time.sleep(0.01)
        port = int(open("/tmp/port").read())
        print(socket.create_connection(("127.0.0.1", port), timeout=5).recv(100).decode())
        """
    )
    spec = make_pod(pod_root / "pod").python("server", server).python("client", client).build()
    sandbox = run_pod(spec)

    status = wait_finished(sandbox)

    assert [c.exit_code for c in status.containers] == [0, 0]
    assert sandbox.log_path("client").read_text() == "hello from server\n"


# --- isolation ---------------------------------------------------------------------------

WRITE_PROBES = [
    # (path, writable)
    ("/usr/dockyard-probe", False),
    ("/etc/dockyard-probe", False),
    ("/dockyard-probe", False),
    ("/root/dockyard-probe", False),
    ("/host-ro/dockyard-probe", False),
    ("/work/dockyard-probe", True),
    ("/tmp/dockyard-probe", True),
    ("/cache/dockyard-probe", True),
    ("/host-rw/dockyard-probe", True),
]


def test_writes_only_where_the_pod_owns_the_directory(pod_root: Path, run_pod: RunPod) -> None:
    host_ro = pod_root / "host-ro"
    host_rw = pod_root / "host-rw"
    for d in (host_ro, host_rw):
        d.mkdir()
        os.chown(d, 65534, 65534)  # writable by the Pod's uid, so only the mount stops it
    probes = "".join(
        f'if touch {path} 2>/dev/null; then echo "{path} yes"; else echo "{path} no"; fi\n'
        for path, _ in WRITE_PROBES
    )
    spec = (
        make_pod(pod_root / "pod")
        .empty_dir("cache")
        .host_path("ro", host_ro)
        .host_path("rw", host_rw, read_only=False)
        .sh(
            "main",
            probes,
            mounts=[
                VolumeMountSpec("cache", "/cache"),
                VolumeMountSpec("ro", "/host-ro"),
                VolumeMountSpec("rw", "/host-rw"),
            ],
        )
        .build()
    )
    sandbox = run_pod(spec)
    wait_finished(sandbox)

    got = dict(line.split() for line in sandbox.log_path("main").read_text().splitlines())
    assert got == {path: "yes" if ok else "no" for path, ok in WRITE_PROBES}
    assert not (host_ro / "dockyard-probe").exists()
    assert (host_rw / "dockyard-probe").stat().st_uid == 65534
    assert not Path("/dockyard-probe").exists()


@pytest.mark.parametrize(
    "script",
    [
        "cat /etc/shadow",
        "cat /etc/gshadow",
        "ls /root",
        "cat /proc/1/root/etc/shadow",
        "ls /sys/fs/cgroup",
        "unshare -U true",
        "mount -t tmpfs none /tmp",
        "touch /work/f && chown 0:0 /work/f",
    ],
    ids=["shadow", "gshadow", "root-home", "host-via-proc", "sysfs", "nested-userns", "mount",
         "chown-to-root"],
)  # fmt: skip
def test_forbidden_operations_fail(pod_root: Path, run_pod: RunPod, script: str) -> None:
    spec = make_pod(pod_root / "pod").sh("main", f"{script} && echo SUCCEEDED").build()
    sandbox = run_pod(spec)

    wait_finished(sandbox)

    assert "SUCCEEDED" not in log_text(sandbox, "main")
    assert Path("/etc/shadow").exists()  # the host is untouched


def test_cleanup_waits_for_a_finishing_sandbox(pod_root: Path, run_pod: RunPod) -> None:
    sandbox = run_pod(make_pod(pod_root / "pod").sh("main", "true").build())
    wait_for(lambda: sandbox.status().finished)

    sandbox.cleanup()

    assert not sandbox.alive()
    meta = json.loads((pod_root / "pod/sandbox.json").read_text())
    assert [d for d in meta["cgroup"]["dirs"] if Path(d).exists()] == []


def test_second_start_in_a_running_state_dir_is_refused(pod_root: Path, run_pod: RunPod) -> None:
    spec = make_pod(pod_root / "pod").sh("main", "sleep 100").build()
    first = run_pod(spec)

    with pytest.raises(SandboxError, match="already running"):
        PodSandbox.start(spec)
    assert first.alive()


@pytest.mark.parametrize(
    ("network", "want"), [(False, "refused"), (True, "connected")], ids=["isolated", "host-net"]
)
def test_network_only_when_asked(pod_root: Path, run_pod: RunPod, network: bool, want: str) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        code = (
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    print('connected')\n"
            "except OSError:\n"
            "    print('refused')\n"
        )
        spec = make_pod(pod_root / "pod").network(network).python("main", code).build()
        sandbox = run_pod(spec)
        wait_finished(sandbox)

    assert sandbox.log_path("main").read_text().strip() == want


@needs_cgroups
def test_fork_bomb_stops_at_the_pids_limit(pod_root: Path, run_pod: RunPod) -> None:
    code = textwrap.dedent(
        """
        import os, time
        forked, refused = 0, 0
        for _ in range(300):
            try:
                pid = os.fork()
            except BlockingIOError:
                refused += 1
                continue
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            forked += 1
        print(forked, refused, flush=True)
        time.sleep(30)
        """
    )
    spec = make_pod(pod_root / "pod").pids(64).python("main", code).build()
    sandbox = run_pod(spec)

    wait_for(lambda: log_text(sandbox, "main").strip() != "")

    forked, refused = map(int, sandbox.log_path("main").read_text().split())
    assert forked < 64 and refused > 0
    assert forked + refused == 300
    # The node itself can still start processes.
    assert subprocess.run(["true"], check=False).returncode == 0
    sandbox.kill(grace_seconds=0)
    assert not sandbox.alive()


@needs_cgroups
def test_memory_hog_is_oom_killed_in_its_own_cgroup(pod_root: Path, run_pod: RunPod) -> None:
    hog = "import time\nblob = b'x' * (256 << 20)\ntime.sleep(5)\n"
    spec = (
        make_pod(pod_root / "pod")
        .memory(64 << 20)
        .python("hog", hog)
        .sh("bystander", "sleep 0.3; echo still here")
        .build()
    )
    sandbox = run_pod(spec)

    status = wait_finished(sandbox)

    hog_state, bystander = status.containers
    assert (hog_state.exit_code, hog_state.reason) == (137, "OOMKilled")
    assert (bystander.exit_code, bystander.reason) == (0, "Completed")
    assert status.oom_killed
    assert os.getpid() > 0 and pid_alive(os.getpid())


@needs_cgroups
def test_cgroup_limits_are_applied(pod_root: Path, run_pod: RunPod) -> None:
    spec = (
        make_pod(pod_root / "pod").memory(96 << 20).cpu(250).pids(77).sh("main", "sleep 30")
    ).build()
    sandbox = run_pod(spec)
    wait_for(lambda: sandbox.status().containers[0].state == "running")
    meta = json.loads((pod_root / "pod/sandbox.json").read_text())
    dirs = [Path(d) for d in meta["cgroup"]["dirs"]]

    files: dict[str, str] = {}
    for d in dirs:
        for name in (
            "memory.max",
            "memory.limit_in_bytes",
            "pids.max",
            "cpu.max",
            "cpu.cfs_quota_us",
        ):
            if (d / name).exists():
                files[name] = (d / name).read_text().strip()
    memory = files.get("memory.max", files.get("memory.limit_in_bytes"))
    assert memory == str(96 << 20)
    assert files["pids.max"] == "77"
    assert files.get("cpu.max", files.get("cpu.cfs_quota_us", "")).split()[0] == "25000"
    # Every process of the Pod, the supervisor included, is in the cgroup.
    procs = {int(p) for d in dirs for p in (d / "cgroup.procs").read_text().split()}
    assert sandbox.pid in procs


# --- stopping, finding again -------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "want_exit", "want_log"),
    [
        ("trap 'echo got TERM; exit 0' TERM; echo ready; sleep 100 & wait", 0, "ready\ngot TERM\n"),
        ("trap '' TERM; echo ready; sleep 100 & wait; sleep 100", None, "ready\n"),
    ],
    ids=["graceful", "ignores-term"],
)
def test_kill_stops_everything_and_removes_the_cgroup(
    pod_root: Path, run_pod: RunPod, script: str, want_exit: int | None, want_log: str
) -> None:
    spec = make_pod(pod_root / "pod").sh("main", script).sh("other", "sleep 100").build()
    sandbox = run_pod(spec)
    # "ready" comes after the trap is installed.
    wait_for(lambda: log_text(sandbox, "main") == "ready\n")
    wait_for(lambda: all(c.state == "running" for c in sandbox.status().containers))
    meta = json.loads((pod_root / "pod/sandbox.json").read_text())
    pids = [sandbox.pid]
    for procs in meta["cgroup"]["procs_files"]:
        pids += [int(p) for p in Path(procs).read_text().split()]
    # (pid, start time): pids are reused quickly on a busy machine.
    processes = {(pid, _procs.start_time(pid)) for pid in pids}

    sandbox.kill(grace_seconds=1.0)

    assert not sandbox.alive()
    assert [p for p in processes if p[1] is not None and _procs.is_running(*p)] == []
    assert [d for d in meta["cgroup"]["dirs"] if Path(d).exists()] == []
    status = sandbox.status()
    assert status.finished
    main = status.containers[0]
    assert main.state == "terminated"
    if want_exit is not None:
        assert main.exit_code == want_exit
    else:
        assert main.exit_code in (137, 143)
    assert sandbox.log_path("main").read_text() == want_log
    sandbox.kill()  # idempotent


def test_adopt_finds_a_running_sandbox_and_not_a_dead_one(pod_root: Path, run_pod: RunPod) -> None:
    sandbox = run_pod(make_pod(pod_root / "pod").sh("main", "sleep 100").build())
    wait_for(lambda: sandbox.status().containers[0].state == "running")

    adopted = PodSandbox.adopt(pod_root / "pod")

    assert adopted is not None
    assert adopted.pid == sandbox.pid and adopted.alive()
    assert adopted.status().containers[0].state == "running"
    adopted.kill(grace_seconds=0.5)
    assert not sandbox.alive()
    assert PodSandbox.adopt(pod_root / "pod") is None


def test_adopt_refuses_a_reused_pid(pod_root: Path, run_pod: RunPod) -> None:
    sandbox = run_pod(make_pod(pod_root / "pod").sh("main", "sleep 100").build())
    wait_for(lambda: sandbox.status().containers[0].state == "running")
    meta_path = pod_root / "pod/sandbox.json"
    meta = json.loads(meta_path.read_text())
    meta["start_time"] += 1  # same pid, different process
    meta_path.write_text(json.dumps(meta))

    assert PodSandbox.adopt(pod_root / "pod") is None
    # The record no longer matches a live process, but its cgroup is not touched.
    assert sandbox.alive()
    assert all(Path(d).exists() for d in meta["cgroup"]["dirs"])


def test_sandbox_outlives_the_process_that_started_it(pod_root: Path) -> None:
    state_dir = pod_root / "pod"
    starter = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from dockyard.node.sandbox import PodSandbox
        from dockyard.node.sandbox.testing import make_pod
        spec = make_pod(Path({str(state_dir)!r})).sh("main", "sleep 100").build()
        PodSandbox.start(spec)
        os._exit(0)  # the control plane dies abruptly
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", starter], check=True, env=env, timeout=30)

    adopted = PodSandbox.adopt(state_dir)
    assert adopted is not None
    try:
        wait_for(lambda: adopted.status().containers[0].state == "running")
        fd = adopted.pidfd()
        assert fd is not None
        os.close(fd)
    finally:
        adopted.kill(grace_seconds=0.5)
    assert not adopted.alive()
    assert adopted.status().finished


@needs_cgroups
def test_adopting_a_sandbox_that_ended_meanwhile_removes_its_cgroup(pod_root: Path) -> None:
    state_dir = pod_root / "pod"
    starter = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from dockyard.node.sandbox import PodSandbox
        from dockyard.node.sandbox.testing import make_pod
        spec = make_pod(Path({str(state_dir)!r})).memory(64 << 20).python(
            "hog", "b = b'x' * (256 << 20)").build()
        PodSandbox.start(spec)
        os._exit(0)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", starter], check=True, env=env, timeout=30)
    meta = json.loads((state_dir / "sandbox.json").read_text())
    wait_for(lambda: not _procs.is_running(meta["pid"], meta["start_time"]))
    assert any(Path(d).exists() for d in meta["cgroup"]["dirs"])

    assert PodSandbox.adopt(state_dir) is None

    assert [d for d in meta["cgroup"]["dirs"] if Path(d).exists()] == []
    assert int((state_dir / "oom_kills").read_text()) >= 1


def test_pidfd_becomes_readable_when_the_pod_ends(pod_root: Path, run_pod: RunPod) -> None:
    sandbox = run_pod(make_pod(pod_root / "pod").sh("main", "sleep 0.2").build())
    fd = sandbox.pidfd()
    assert fd is not None
    try:
        readable, _, _ = select.select([fd], [], [], 20)
    finally:
        os.close(fd)

    assert readable == [fd]
    assert wait_finished(sandbox).containers[0].exit_code == 0


# --- images ------------------------------------------------------------------------------


def test_python_image_runs_python(pod_root: Path, run_pod: RunPod) -> None:
    code = "import sys; print(sys.version_info[0], 6 * 7)"
    spec = (
        make_pod(pod_root / "pod")
        .python("main", code)
        # Like the real image: no entrypoint, so args replace the default command...
        .container("args-only", image="python:3.11", args=["python3", "-c", "print('args')"])
        # ...and with neither, the default `python3` runs (and reads an empty stdin).
        .container("defaults", image="python:3.11")
        .build()
    )
    sandbox = run_pod(spec)

    status = wait_finished(sandbox)

    assert [c.exit_code for c in status.containers] == [0, 0, 0]
    assert sandbox.log_path("main").read_text() == "3 42\n"
    assert sandbox.log_path("args-only").read_text() == "args\n"


def test_unknown_image_fails_before_anything_is_created(pod_root: Path) -> None:
    spec = make_pod(pod_root / "pod").container("main", "x", image="nginx:1.25").build()

    with pytest.raises(UnknownImageError, match="busybox"):
        PodSandbox.start(spec)
    assert not (pod_root / "pod").exists()


def test_state_dir_unreachable_by_the_pod_user_is_refused(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    spec = make_pod(private / "pod").sh("main", "true").build()

    with pytest.raises(SandboxError, match="not searchable"):
        PodSandbox.start(spec)


def test_runs_without_cgroups_when_they_are_unavailable(
    pod_root: Path, run_pod: RunPod, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKYARD_CGROUP_DRIVER", "none")
    assert cgroup_driver(refresh=True) == "none"
    try:
        sandbox = run_pod(make_pod(pod_root / "pod").sh("main", "echo ok").build())
        status = wait_finished(sandbox)
    finally:
        monkeypatch.delenv("DOCKYARD_CGROUP_DRIVER")
        cgroup_driver(refresh=True)

    assert status.containers[0].exit_code == 0
    assert sandbox.log_path("main").read_text() == "ok\n"
    assert json.loads((pod_root / "pod/sandbox.json").read_text())["cgroup"]["dirs"] == []
