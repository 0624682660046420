"""The live scheduler places GPU-share Pods on devices of virtual GPU nodes through the
framework's plugins, and the assignment reaches the Pod."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.conftest import wait_for_phase

from dockyard.server import BackgroundControlPlane
from dockyard.testing import make_pod

PODS = "/api/v1/namespaces/default/pods"
ENV_ECHO = "echo $CUDA_VISIBLE_DEVICES $DOCKYARD_GPU_MILLI; sleep 3"


def share_pod(name: str, milli: int) -> dict:
    pod = make_pod(name).shell(ENV_ECHO).build()
    pod["spec"]["containers"][0]["resources"] = {"limits": {"dockyard.dev/gpu-milli": str(milli)}}
    return pod


def assignment(pod: dict) -> list[dict]:
    return json.loads(pod["metadata"]["annotations"]["dockyard.dev/gpu-assignment"])


def test_shares_pack_onto_one_device_and_reach_the_pod(http: httpx.Client) -> None:
    for name in ("share-a", "share-b"):
        assert http.post(PODS, json=share_pod(name, 500)).status_code == 201
    a = wait_for_phase(http, "share-a", ("Running", "Succeeded"))
    b = wait_for_phase(http, "share-b", ("Running", "Succeeded"))
    dev_a, dev_b = assignment(a)[0], assignment(b)[0]
    assert dev_a["milli"] == dev_b["milli"] == 500
    # Two halves fill one device of one node rather than fragmenting two.
    assert (a["spec"]["nodeName"], dev_a["index"]) == (b["spec"]["nodeName"], dev_b["index"])
    wait_for_phase(http, "share-a")
    log = http.get(f"{PODS}/share-a/log").text.split()
    assert log == [str(dev_a["index"]), "500"]


def test_whole_gpu_request_and_share_coexist(http: httpx.Client) -> None:
    assert (
        http.post(PODS, json=make_pod("whole").shell(ENV_ECHO).gpus(2).build()).status_code == 201
    )
    pod = wait_for_phase(http, "whole", ("Running", "Succeeded"))
    devices = assignment(pod)
    assert len(devices) == 2 and all(d["milli"] == 1000 for d in devices)
    assert pod["metadata"]["annotations"]["dockyard.dev/gpu-ids"] == ",".join(
        str(d["index"]) for d in devices
    )


@pytest.mark.parametrize(
    ("resources", "reason"),
    [
        pytest.param({"nvidia.com/gpu": "8"}, "gpu", id="too-many-gpus"),
        pytest.param({"cpu": "500"}, "cpu", id="too-much-cpu"),
    ],
)
def test_unschedulable_explained_by_the_framework(
    http: httpx.Client, resources: dict, reason: str
) -> None:
    name = f"nofit-{reason}"
    pod = make_pod(name).build()
    pod["spec"]["containers"][0]["resources"] = {"limits": resources}
    assert http.post(PODS, json=pod).status_code == 201
    deadline = time.monotonic() + 10
    while True:
        conditions = {
            c["type"]: c for c in http.get(f"{PODS}/{name}").json()["status"].get("conditions", [])
        }
        if conditions.get("PodScheduled", {}).get("reason") == "Unschedulable":
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    message = conditions["PodScheduled"]["message"]
    assert message.startswith("0/3 nodes are available") and reason in message
    http.delete(f"{PODS}/{name}")


@pytest.mark.parametrize("milli", ["0", "1001", "2.5"])
def test_gpu_milli_out_of_range_is_rejected(http: httpx.Client, milli: str) -> None:
    pod = make_pod("badshare").build()
    pod["spec"]["containers"][0]["resources"] = {"limits": {"dockyard.dev/gpu-milli": milli}}
    response = http.post(PODS, json=pod)
    assert response.status_code == 422
    assert "gpu-milli" in response.text


def test_get_wide_shows_the_gpu_assignment(
    http: httpx.Client, plane: BackgroundControlPlane
) -> None:
    assert http.post(PODS, json=share_pod("wide-share", 250)).status_code == 201
    wait_for_phase(http, "wide-share", ("Running", "Succeeded"))
    env = {**os.environ, "DOCKYARD_SERVER": plane.url, "DOCKYARD_TOKEN": plane.cp.token}
    out = subprocess.run(
        [str(Path(sys.executable).parent / "dockyard"), "get", "pod", "wide-share", "-o", "wide"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "GPU" in out and "@250m" in out
