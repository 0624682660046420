"""SIGKILL the control plane mid-run, restart it: nothing acknowledged is lost, running
Pods are re-adopted, Pods that finished meanwhile are reported, and each runs once."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import free_port, wait_for_phase

from dockyard.testing import make_pod

PODS = "/api/v1/namespaces/default/pods"
DOCKYARD = str(Path(sys.executable).parent / "dockyard")


class UpProcess:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir, self.port = data_dir, port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> httpx.Client:
        self.proc = subprocess.Popen(
            [DOCKYARD, "up", "--port", str(self.port), "--data-dir", str(self.data_dir)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.data_dir / "up.log", "ab"),  # noqa: SIM115
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        url = f"http://127.0.0.1:{self.port}"
        while True:
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, (self.data_dir / "up.log").read_text()
            assert time.monotonic() < deadline, "dockyard up did not become ready"
            time.sleep(0.05)
        token = (self.data_dir / "token").read_text().strip()
        return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temporary directory the sandbox user can traverse (pytest's own are 0700)."""
    path = Path(tempfile.mkdtemp(prefix="dockyard-test-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def up(open_tmp: Path) -> Iterator[UpProcess]:
    data_dir = open_tmp / "data"
    data_dir.mkdir()
    process = UpProcess(data_dir, free_port())
    yield process
    if process.proc is not None and process.proc.poll() is None:
        process.terminate()


def counted_pod(name: str, share: Path, script: str) -> dict[str, Any]:
    pod = make_pod(name).shell(f"echo {name} >> /share/runs; {script}").build()
    pod["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "share", "mountPath": "/share", "readOnly": False}
    ]
    pod["spec"]["volumes"] = [{"name": "share", "hostPath": {"path": str(share)}}]
    return pod


def test_sigkill_and_restart_loses_nothing_and_runs_pods_once(
    up: UpProcess, open_tmp: Path
) -> None:
    share = open_tmp / "share"
    share.mkdir()
    os.chown(share, 65534, 65534)
    http = up.start()
    # Acknowledged writes that must survive.
    for i in range(50):
        parked = make_pod(f"parked-{i}").build()
        parked["spec"]["schedulerName"] = "elsewhere"
        assert http.post(PODS, json=parked).status_code == 201
    http.post(PODS, json=counted_pod("finishes-while-down", share, "sleep 2"))
    http.post(PODS, json=counted_pod("outlives-restart", share, "sleep 8"))
    survivor = wait_for_phase(http, "outlives-restart", ("Running",))
    wait_for_phase(http, "finishes-while-down", ("Running",))

    up.kill()
    time.sleep(3)  # "finishes-while-down" completes while nothing is watching
    http = up.start()

    parked = http.get(PODS, params={"labelSelector": ""}).json()["items"]
    assert len([p for p in parked if p["metadata"]["name"].startswith("parked-")]) == 50
    done = wait_for_phase(http, "finishes-while-down", timeout=20)
    assert done["status"]["phase"] == "Succeeded"
    adopted = http.get(f"{PODS}/outlives-restart").json()
    assert adopted["status"]["phase"] == "Running"
    assert adopted["status"]["startTime"] == survivor["status"]["startTime"]
    final = wait_for_phase(http, "outlives-restart", timeout=30)
    assert final["status"]["phase"] == "Succeeded"
    runs = (share / "runs").read_text().split()
    assert sorted(runs) == ["finishes-while-down", "outlives-restart"]  # each ran exactly once


def test_sigterm_stops_pods_cleanly(up: UpProcess) -> None:
    http = up.start()
    http.post(PODS, json=make_pod("long").shell("sleep 300").build())
    running = wait_for_phase(http, "long", ("Running",))
    assert up.terminate() == 0
    state_dir_pid = None
    meta = next(Path(up.data_dir).rglob(f"{running['metadata']['uid']}/meta.json"), None)
    if meta is not None:
        import json

        state_dir_pid = json.loads(meta.read_text())["pid"]
    if state_dir_pid is not None:
        assert not Path(f"/proc/{state_dir_pid}").exists()
    http = up.start()
    stopped = http.get(f"{PODS}/long").json()
    assert stopped["status"]["phase"] == "Failed" and stopped["status"]["reason"] == "NodeShutdown"
