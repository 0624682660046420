"""SIGKILL the control plane mid-run, restart it: nothing acknowledged is lost, running
Pods are re-adopted, Pods that finished meanwhile are reported, and each runs once."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from tests.conftest import wait_for_phase

from dockyard.node.sandbox._layout import StateLayout
from dockyard.testing import DockyardUp, make_pod

PODS = "/api/v1/namespaces/default/pods"


def counted_pod(name: str, share: Path, script: str) -> dict[str, Any]:
    pod = make_pod(name).shell(f"echo {name} >> /share/runs; {script}").build()
    pod["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "share", "mountPath": "/share", "readOnly": False}
    ]
    pod["spec"]["volumes"] = [{"name": "share", "hostPath": {"path": str(share)}}]
    return pod


def test_sigkill_and_restart_loses_nothing_and_runs_pods_once(
    up: DockyardUp, open_tmp: Path
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


def test_sigterm_stops_pods_cleanly(up: DockyardUp) -> None:
    http = up.start()
    http.post(PODS, json=make_pod("long").shell("sleep 300").build())
    running = wait_for_phase(http, "long", ("Running",))
    assert up.terminate() == 0
    layout = StateLayout(up.data_dir / "pods" / running["metadata"]["uid"])
    supervisor = json.loads(layout.meta.read_text())["pid"]
    assert not Path(f"/proc/{supervisor}").exists()  # the Pod's processes are gone
    http = up.start()
    stopped = http.get(f"{PODS}/long").json()
    assert stopped["status"]["phase"] == "Failed" and stopped["status"]["reason"] == "NodeShutdown"
