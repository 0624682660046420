"""Pods end to end: scheduled, run as sandboxed processes, reported back, logged."""

from __future__ import annotations

import time

import httpx
import pytest
from tests.conftest import wait_for_phase

from dockyard.testing import make_pod

PODS = "/api/v1/namespaces/default/pods"


def run(http: httpx.Client, pod: dict, timeout: float = 30.0) -> dict:
    assert http.post(PODS, json=pod).status_code == 201
    return wait_for_phase(http, pod["metadata"]["name"], timeout=timeout)


def logs(http: httpx.Client, name: str, **params: str) -> str:
    return http.get(f"{PODS}/{name}/log", params=params).text


def test_pod_succeeds_with_logs_and_status(http: httpx.Client) -> None:
    pod = run(
        http, make_pod("hello").shell("echo hello from $DOCKYARD_POD_NAME; echo oops >&2").build()
    )
    assert pod["status"]["phase"] == "Succeeded"
    assert pod["spec"]["nodeName"] and pod["status"]["startTime"] and pod["status"]["finishTime"]
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0 and terminated["reason"] == "Completed"
    assert {"type": "PodScheduled", "status": "True"}.items() <= pod["status"]["conditions"][
        0
    ].items()
    text = logs(http, "hello")
    assert "hello from hello" in text and "oops" in text


def test_exit_code_reported(http: httpx.Client) -> None:
    pod = run(http, make_pod("exit3").shell("exit 3").build())
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3


def test_init_containers_run_first_and_share_the_sandbox(http: httpx.Client) -> None:
    pod = (
        make_pod("withinit")
        .init_container("prepare", "sh", "-c", "echo prepared > /tmp/ready")
        .shell("cat /tmp/ready")
        .build()
    )
    assert run(http, pod)["status"]["phase"] == "Succeeded"
    assert "prepared" in logs(http, "withinit")


def test_python_image(http: httpx.Client) -> None:
    pod = (
        make_pod("py")
        .image("python:3.11")
        .command("python", "-c", "import sys; print(sys.version_info[:2])")
        .build()
    )
    assert run(http, pod)["status"]["phase"] == "Succeeded"
    assert "(3," in logs(http, "py")


def test_on_failure_restarts_until_success(http: httpx.Client) -> None:
    script = "n=$(cat /tmp/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/n; [ $n -ge 3 ]"
    pod = run(http, make_pod("retry").shell(script).restart("OnFailure").build(), timeout=40)
    assert pod["status"]["phase"] == "Succeeded"
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 2


def test_gpu_pods_get_distinct_virtual_devices(http: httpx.Client) -> None:
    names = [f"gpu{i}" for i in range(3)]
    for name in names:
        pod = make_pod(name).shell("echo devices=$CUDA_VISIBLE_DEVICES; sleep 2").gpus(1).build()
        assert http.post(PODS, json=pod).status_code == 201
    seen = set()
    for name in names:
        pod = wait_for_phase(http, name)
        assert pod["status"]["phase"] == "Succeeded"
        node = pod["spec"]["nodeName"]
        devices = logs(http, name).strip().removeprefix("devices=")
        assert devices in {"0", "1"}
        seen.add((node, devices))
    assert len(seen) == 3  # no device handed to two Pods at once


def test_unschedulable_pod_explains_why(http: httpx.Client) -> None:
    pod = make_pod("huge").cpu("4000").build()
    assert http.post(PODS, json=pod).status_code == 201
    deadline = time.monotonic() + 10
    while True:
        status = http.get(f"{PODS}/huge").json()["status"]
        conditions = {c["type"]: c for c in status.get("conditions", [])}
        if conditions.get("PodScheduled", {}).get("reason") == "Unschedulable":
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "insufficient cpu" in conditions["PodScheduled"]["message"]
    assert status["phase"] == "Pending"
    http.delete(f"{PODS}/huge")


def test_active_deadline_kills_pod(http: httpx.Client) -> None:
    pod = run(http, make_pod("deadline").shell("sleep 60").deadline(1).build(), timeout=20)
    assert pod["status"]["phase"] == "Failed" and pod["status"]["reason"] == "DeadlineExceeded"


def test_delete_stops_the_process(http: httpx.Client, plane) -> None:  # type: ignore[no-untyped-def]
    pod = make_pod("victim").shell("echo started; sleep 300").build()
    assert http.post(PODS, json=pod).status_code == 201
    running = wait_for_phase(http, "victim", ("Running",))
    state_dir = plane.cp.agent.pods_dir / running["metadata"]["uid"]
    assert state_dir.exists()
    http.delete(f"{PODS}/victim")
    deadline = time.monotonic() + 15
    while state_dir.exists():
        assert time.monotonic() < deadline, "sandbox state not cleaned up"
        time.sleep(0.05)


def test_logs_follow_streams_until_exit(http: httpx.Client) -> None:
    pod = make_pod("follow").shell("for i in 1 2 3; do echo line$i; sleep 0.2; done").build()
    assert http.post(PODS, json=pod).status_code == 201
    wait_for_phase(http, "follow", ("Running", "Succeeded"))
    with http.stream("GET", f"{PODS}/follow/log", params={"follow": "true"}) as response:
        text = "".join(response.iter_text())
    assert text.split() == ["line1", "line2", "line3"]


@pytest.mark.parametrize("container", ["a", "b"])
def test_multi_container_logs_need_a_name(http: httpx.Client, container: str) -> None:
    name = f"multi-{container}"
    pod = (
        make_pod(name)
        .shell("echo main")
        .container("a", "busybox", "sh", "-c", "echo from-a")
        .container("b", "busybox", "sh", "-c", "echo from-b")
        .build()
    )
    run(http, pod)
    assert http.get(f"{PODS}/{name}/log").status_code == 400
    assert logs(http, name, container=container).strip() == f"from-{container}"
