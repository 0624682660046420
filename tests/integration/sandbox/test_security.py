"""The isolation checklist, from inside real sandboxes: each attack must fail, and other
sandboxes and the node must be unharmed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2b import CommandExitException, Sandbox

from dockyard.sandbox import extension
from dockyard.server import BackgroundControlPlane

pytestmark = pytest.mark.usefixtures("e2b_env")

SMALL_TEMPLATE = {
    "apiVersion": "agents.x-k8s.io/v1alpha1",
    "kind": "SandboxTemplate",
    "metadata": {"name": "small", "namespace": "default"},
    "spec": {"resources": {"cpu": "500m", "memory": "128Mi", "disk": "8Mi", "pids": 64}},
}

# A program that reports the errno a raw system call fails with (0 when it succeeds).
SYSCALL = (
    "import ctypes, sys; libc = ctypes.CDLL(None, use_errno=True); "
    "rc = libc.syscall({nr}, 0, 0, 0, 0, 0); print('errno', ctypes.get_errno() if rc < 0 else 0)"
)


@pytest.fixture(scope="module")
def small(http: httpx.Client) -> Iterator[Sandbox]:
    reply = http.post(
        "/apis/agents.x-k8s.io/v1alpha1/namespaces/default/sandboxtemplates", json=SMALL_TEMPLATE
    )
    assert reply.status_code == 201, reply.text
    sbx = Sandbox.create("small", timeout=120)
    yield sbx
    sbx.kill()


def run(sbx: Sandbox, command: str) -> tuple[int, str]:
    try:
        result = sbx.commands.run(command, timeout=60)
        return result.exit_code, result.stdout + result.stderr
    except CommandExitException as exc:
        return exc.exit_code, exc.stdout + exc.stderr


@pytest.mark.parametrize(
    ("command", "refused"),
    [
        pytest.param("cat /etc/shadow", "No such file", id="read-etc-shadow"),
        pytest.param("cat /proc/kcore", "", id="read-proc-kcore"),
        pytest.param(
            "python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 2)\"",
            "Error",
            id="connect-host-loopback",
        ),
        pytest.param(
            "python3 -c \"import socket; socket.create_connection(('1.1.1.1', 53), 2)\"",
            "Network is unreachable",
            id="connect-internet",
        ),
        pytest.param(f'python3 -c "{SYSCALL.format(nr=101)}"', "errno 1", id="ptrace"),
        pytest.param(f'python3 -c "{SYSCALL.format(nr=165)}"', "errno 1", id="mount"),
        pytest.param(f'python3 -c "{SYSCALL.format(nr=272)}"', "errno 1", id="unshare"),
        pytest.param(f'python3 -c "{SYSCALL.format(nr=250)}"', "errno 1", id="keyctl"),
        pytest.param(f'python3 -c "{SYSCALL.format(nr=321)}"', "errno 1", id="bpf"),
        pytest.param(
            "python3 -c \"import fcntl, termios; fcntl.ioctl(0, termios.TIOCSTI, b'x')\" < /dev/tty",
            "",
            id="tiocsti",
        ),
        pytest.param(
            "grep -E '^(CapPrm|CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status",
            "CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"
            "CapBnd:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2",
            id="no-caps-no-new-privs-seccomp",
        ),
    ],
)
def test_refused_from_inside(
    small: Sandbox, plane: BackgroundControlPlane, command: str, refused: str
) -> None:
    port = plane.url.rsplit(":", 1)[1]
    code, output = run(small, command.format(port=port))
    if refused.startswith("CapPrm"):
        assert code == 0 and refused in output
    elif refused.startswith("errno"):
        assert refused in output, output
    else:
        assert code != 0, output
        assert refused in output, output


def test_fork_bomb_stops_at_pids_limit(small: Sandbox) -> None:
    _, output = run(
        small,
        'python3 -c "import os, time\nn = 0\ntry:\n  while True:\n    if os.fork() == 0:\n'
        "      time.sleep(3); os._exit(0)\n    n += 1\nexcept OSError as e:\n  print('stopped', n < 64, e.errno)\"",
    )
    assert "stopped True 11" in output, output
    assert run(small, "echo alive") == (0, "alive\n")


def test_memory_bomb_is_killed_in_its_own_cgroup(small: Sandbox) -> None:
    neighbour = Sandbox.create(timeout=60)
    try:
        code, _ = run(small, 'python3 -c "x = bytearray(1 << 30); print(len(x))"')
        assert code != 0
        assert run(neighbour, "echo unharmed") == (0, "unharmed\n")
    finally:
        neighbour.kill()


def test_disk_fill_gets_enospc(small: Sandbox) -> None:
    code, output = run(small, "head -c 32M /dev/zero > ~/fill")
    assert code != 0 and "No space left on device" in output
    run(small, "rm -f ~/fill")


def test_files_api_stays_inside_the_sandbox(small: Sandbox) -> None:
    marker = f"escape-{uuid.uuid4().hex}"
    small.files.write(f"../../../../tmp/{marker}", "x")
    run(small, "ln -sfn / ~/root-link")
    small.files.write(f"root-link/tmp/{marker}-2", "x")
    assert not Path(f"/tmp/{marker}").exists()
    assert not Path(f"/tmp/{marker}-2").exists()
    with pytest.raises(Exception, match=r"ermission|does not exist"):
        small.files.read("../../etc/shadow")


def test_sandboxes_cannot_see_each_other(small: Sandbox) -> None:
    small.files.write("secret.txt", "mine")
    other = Sandbox.create(timeout=60)
    try:
        _, output = run(other, "cat /proc/*/root/home/user/secret.txt; ls /home/user")
        assert "mine" not in output
    finally:
        other.kill()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({}, 401, id="no-key"),
        pytest.param({"X-API-Key": "e2b_" + "0" * 40}, 401, id="unknown-key"),
        pytest.param({"X-API-Key": "not-a-key"}, 401, id="malformed-key"),
    ],
)
def test_control_plane_refuses_bad_keys(
    plane: BackgroundControlPlane, small: Sandbox, headers: dict[str, str], status: int
) -> None:
    reply = httpx.get(f"{plane.url}/sandboxes/{small.sandbox_id}", headers=headers)
    assert reply.status_code == status


def test_other_tenant_does_not_see_the_sandbox(
    plane: BackgroundControlPlane, small: Sandbox, other_key: str
) -> None:
    headers = {"X-API-Key": other_key}
    assert (
        httpx.get(f"{plane.url}/sandboxes/{small.sandbox_id}", headers=headers).status_code == 404
    )
    assert httpx.get(f"{plane.url}/v2/sandboxes", headers=headers).json() == []
    assert (
        httpx.delete(f"{plane.url}/sandboxes/{small.sandbox_id}", headers=headers).status_code
        == 404
    )


@pytest.mark.parametrize(
    "token",
    [pytest.param(None, id="no-token"), pytest.param("wrong", id="wrong-token")],
)
def test_data_plane_refuses_bad_access_tokens(
    plane: BackgroundControlPlane, small: Sandbox, token: str | None
) -> None:
    headers = {"E2b-Sandbox-Id": small.sandbox_id, "E2b-Sandbox-Port": "49983"}
    if token:
        headers["X-Access-Token"] = token
    reply = httpx.get(f"{plane.url}/files", params={"path": "secret.txt"}, headers=headers)
    assert reply.status_code == 401
    execute = httpx.post(f"{plane.url}/execute", json={"code": "1"}, headers=headers)
    assert execute.status_code == 401


# clone(CLONE_NEWUSER | SIGCHLD) as a raw system call: a new user namespace must be refused
# (a child that got one exits at once).
NEW_USERNS = (
    "import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); "
    "rc = libc.syscall(56, 0x10000011, 0, 0, 0, 0)\n"
    "if rc == 0: os._exit(0)\n"
    "print('errno', ctypes.get_errno() if rc < 0 else 0)"
)


def test_no_privilege_and_nothing_of_the_node_in_reach(small: Sandbox) -> None:
    # The checks apply to sandboxes forked by the node's nursery, as every sandbox here is.
    assert extension.service is not None and extension.service.nursery is not None
    _, status = run(small, "grep -E '^Cap(Prm|Eff|Inh|Bnd|Amb):' /proc/self/status")
    assert status.count("0000000000000000") == 5, status
    _, userns = run(small, f'python3 -c "{NEW_USERNS}"')
    assert "errno 0" not in userns and "errno" in userns, userns
    # Other sandboxes' state directories and the node's sandbox machinery stay hidden.
    _, listing = run(
        small, "ls -A /.dockyard/boxes /.dockyard/zrun 2>&1; ls /proc | grep -c '^[0-9]'"
    )
    assert "d.sock" not in listing and "z.sock" not in listing, listing
    assert int(listing.split()[-1]) < 10, listing  # only this sandbox's own processes
    assert run(small, "touch /dev/x /usr/x /etc/x 2>&1 | grep -c Read-only")[1].strip() == "3"
