"""Pods are isolated: read-only host, no network unless asked, pids and memory limits."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
from tests.conftest import wait_for_phase

from dockyard.testing import make_pod

PODS = "/api/v1/namespaces/default/pods"


def run(http: httpx.Client, pod: dict, timeout: float = 60.0) -> tuple[dict, str]:
    assert http.post(PODS, json=pod).status_code == 201
    name = pod["metadata"]["name"]
    final = wait_for_phase(http, name, timeout=timeout)
    return final, http.get(f"{PODS}/{name}/log").text


@pytest.mark.parametrize(
    ("name", "script"),
    [
        pytest.param("write-usr", "touch /usr/pwned", id="usr"),
        pytest.param("write-etc", "touch /etc/pwned", id="etc"),
        pytest.param("write-root", "touch /pwned", id="root"),
        pytest.param("read-shadow", "cat /etc/shadow", id="shadow"),
        pytest.param("see-host-home", "ls /root", id="host-home"),
    ],
)
def test_host_is_out_of_reach(http: httpx.Client, name: str, script: str) -> None:
    pod, _ = run(http, make_pod(name).shell(script).build())
    assert pod["status"]["phase"] == "Failed"


def test_working_dir_and_tmp_are_writable(http: httpx.Client) -> None:
    pod, log = run(
        http,
        make_pod("writable")
        .shell("echo a > ./f && echo b > /tmp/f && cat ./f /tmp/f && id -u")
        .build(),
    )
    assert pod["status"]["phase"] == "Succeeded"
    assert log.split() == ["a", "b", "65534"]


@pytest.fixture
def host_listener() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.sendall(b"hello\n")
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    server.close()


CONNECT = (
    "import socket,sys\n"
    "s=socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=3)\n"
    "print(s.recv(16).decode().strip())\n"
)


@pytest.mark.parametrize(
    ("network", "expected"), [(False, "Failed"), (True, "Succeeded")], ids=["off", "asked"]
)
def test_network_only_when_asked(
    http: httpx.Client, host_listener: int, network: bool, expected: str
) -> None:
    name = f"net-{'on' if network else 'off'}"
    pod = (
        make_pod(name)
        .image("python:3.11")
        .command("python3", "-c", CONNECT, str(host_listener))
        .network(network)
        .build()
    )
    final, log = run(http, pod)
    assert final["status"]["phase"] == expected, log
    if network:
        assert log.strip() == "hello"


FORK_BOMB = (
    "import os, signal, time\n"
    "kids, failed = [], 0\n"
    "for _ in range(1500):\n"
    "    try:\n"
    "        pid = os.fork()\n"
    "    except OSError:\n"
    "        failed += 1\n"
    "        continue\n"
    "    if pid == 0:\n"
    "        time.sleep(60)\n"
    "        os._exit(0)\n"
    "    kids.append(pid)\n"
    "print(f'forked={len(kids)} failed={failed}', flush=True)\n"
    "for pid in kids:\n"
    "    os.kill(pid, signal.SIGKILL)\n"
    "for pid in kids:\n"
    "    os.waitpid(pid, 0)\n"
)


def test_fork_bomb_stops_at_pids_limit_and_node_survives(http: httpx.Client) -> None:
    pod, log = run(
        http,
        make_pod("forkbomb").image("python:3.11").command("python3", "-c", FORK_BOMB).build(),
        timeout=90,
    )
    assert pod["status"]["phase"] == "Succeeded", log
    counts = dict(part.split("=") for part in log.split())
    assert int(counts["forked"]) < 1024 and int(counts["failed"]) > 0
    after, log = run(http, make_pod("after-forkbomb").shell("echo alive").build())
    assert after["status"]["phase"] == "Succeeded" and "alive" in log


def test_memory_hog_is_oom_killed_in_its_own_cgroup(http: httpx.Client) -> None:
    hog = (
        make_pod("memhog")
        .image("python:3.11")
        .command("python3", "-c", "x = bytearray(1024 * 1024 * 512); print('survived')")
        .memory("32Mi", limit="64Mi")
        .build()
    )
    pod, log = run(http, hog)
    assert pod["status"]["phase"] == "Failed"
    assert "survived" not in log
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["reason"] == "OOMKilled" or pod["status"].get("reason") == "OOMKilled"
    after, _ = run(http, make_pod("after-memhog").shell("true").build())
    assert after["status"]["phase"] == "Succeeded"
