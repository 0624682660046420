"""The simulated step executor drives the real controller, store and scheduler: admission
by priority within the controller's parallelism, a workflow's own parallelism, and large
node maps stored compressed while the Argo API returns ordinary nodes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dockyard.server import BackgroundControlPlane, ControlPlaneConfig
from dockyard.store import Watch
from dockyard.testing import free_port
from dockyard.workflows import _compressed
from dockyard.workflows._simulated import SIM_NODE

CONTROLLER_PARALLELISM = 3
WF = "argoproj.io/v1alpha1/Workflow"


@pytest.fixture(scope="module")
def sim_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundControlPlane]:
    data_dir = tmp_path_factory.mktemp("dockyard-sim")
    (data_dir / "workflow-controller.yaml").write_text(
        f"executor: simulated\nparallelism: {CONTROLLER_PARALLELISM}\n"
    )
    config = ControlPlaneConfig(host="127.0.0.1", port=free_port(), data_dir=Path(data_dir))
    with BackgroundControlPlane(config) as running:
        yield running


@pytest.fixture(scope="module")
def api(sim_plane: BackgroundControlPlane) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=sim_plane.url, headers={"Authorization": f"Bearer {sim_plane.cp.token}"}
    ) as client:
        yield client


def workflow(name: str, templates: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"entrypoint": "main", "templates": templates, **spec},
    }


NOOP = {"name": "noop", "container": {"image": "busybox", "command": ["true"]}}


def two_steps(name: str, priority: int) -> dict[str, Any]:
    main = {
        "name": "main",
        "steps": [[{"name": "a", "template": "noop"}], [{"name": "b", "template": "noop"}]],
    }
    return workflow(name, [main, NOOP], priority=priority)


def fan_out(name: str, count: int, **spec: Any) -> dict[str, Any]:
    main = {
        "name": "main",
        "steps": [[{"name": "item", "template": "noop", "withSequence": {"count": str(count)}}]],
    }
    return workflow(name, [main, NOOP], **spec)


def submit(api: httpx.Client, body: dict[str, Any]) -> None:
    api.post("/api/v1/workflows/default", json={"workflow": body}).raise_for_status()


def until(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def stats(api: httpx.Client) -> dict[str, int]:
    result: dict[str, int] = api.get("/api/v1/workflow-controller/stats").json()
    return result


def pod_events(watch: Watch) -> list[tuple[int, str, str, str, str]]:
    """(rv, type, workflow, phase, node) of every Pod event delivered so far."""
    out = []
    while (event := watch.get(timeout=0.2)) is not None:
        meta = event.object["metadata"]
        out.append(
            (
                event.rv,
                event.type,
                (meta.get("labels") or {}).get("workflows.argoproj.io/workflow", ""),
                (event.object.get("status") or {}).get("phase", "Pending"),
                (event.object.get("spec") or {}).get("nodeName") or "",
            )
        )
    return out


def test_queued_workflows_are_admitted_by_priority_within_parallelism(
    sim_plane: BackgroundControlPlane, api: httpx.Client
) -> None:
    watch = sim_plane.cp.store.watch("v1/Pod")
    suspend = {"name": "main", "suspend": {}}
    for i in range(CONTROLLER_PARALLELISM):  # hold every slot until resumed
        submit(api, workflow(f"blocker-{i}", [suspend]))
    until(lambda: stats(api)["admitted"] == CONTROLLER_PARALLELISM)
    priorities = {f"queued-{i:02d}": i % 5 for i in range(47)}
    for name, priority in priorities.items():
        submit(api, two_steps(name, priority))
    until(lambda: stats(api)["waiting"] == len(priorities))
    for i in range(CONTROLLER_PARALLELISM):
        api.put(f"/api/v1/workflows/default/blocker-{i}/resume", json={}).raise_for_status()
    until(lambda: stats(api)["finished"] >= len(priorities) + CONTROLLER_PARALLELISM)
    events = pod_events(watch)
    watch.close()

    admitted: list[str] = []
    active = peak = 0
    finished_pods: dict[str, int] = {}
    for _, kind, owner, phase, node in sorted(events):
        if owner not in priorities:
            continue
        if kind == "ADDED" and owner not in admitted:
            admitted.append(owner)
            active += 1
            peak = max(peak, active)
        if kind == "MODIFIED" and phase == "Succeeded":
            assert node == SIM_NODE  # bound by the scheduler to the simulated Node
            finished_pods[owner] = finished_pods.get(owner, 0) + 1
            if finished_pods[owner] == 2:
                active -= 1
    assert sorted(admitted) == sorted(priorities)
    assert peak <= CONTROLLER_PARALLELISM
    # Slots free up together, so the few at the head of the queue may start in any order
    # among themselves; no workflow starts while more than that many better ones wait.
    for index, name in enumerate(admitted):
        better_waiting = [w for w in admitted[index + 1 :] if priorities[w] > priorities[name]]
        assert len(better_waiting) < CONTROLLER_PARALLELISM, (name, better_waiting)
    assert [priorities[w] for w in admitted[:9]] == [4] * 9
    listing = api.get(
        "/api/v1/workflows/default", params={"fields": "items.metadata.name,items.status.phase"}
    ).json()
    assert {w["status"]["phase"] for w in listing["items"]} == {"Succeeded"}
    assert stats(api)["peakWaiting"] >= len(priorities)


def test_workflow_parallelism_bounds_pods_in_flight(
    sim_plane: BackgroundControlPlane, api: httpx.Client
) -> None:
    watch = sim_plane.cp.store.watch("v1/Pod")
    submit(api, fan_out("limited", 20, parallelism=4))
    until(lambda: api.get("/api/v1/workflows/default/limited").json()["status"].get("finishedAt"))
    in_flight = peak = 0
    for _, kind, owner, phase, _ in sorted(pod_events(watch)):
        if owner != "limited":
            continue
        if kind == "ADDED":
            in_flight += 1
            peak = max(peak, in_flight)
        elif phase == "Succeeded":
            in_flight -= 1
    watch.close()
    done = api.get("/api/v1/workflows/default/limited").json()
    pods = [n for n in done["status"]["nodes"].values() if n["type"] == "Pod"]
    assert done["status"]["phase"] == "Succeeded"
    assert len(pods) == 20 and {p["outputs"]["exitCode"] for p in pods} == {"0"}
    assert 1 < peak <= 4


def test_large_node_map_is_stored_compressed(
    sim_plane: BackgroundControlPlane, api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_compressed, "COMPRESS_ABOVE", 4096)
    submit(api, fan_out("wide", 60))
    until(lambda: api.get("/api/v1/workflows/default/wide").json()["status"].get("finishedAt"))
    stored = sim_plane.cp.store.get(WF, "default", "wide")
    assert "nodes" not in stored["status"] and stored["status"]["compressedNodes"]
    served = api.get("/api/v1/workflows/default/wide").json()
    assert "compressedNodes" not in served["status"]
    assert len(served["status"]["nodes"]) == 62  # steps node, step group, 60 Pods
    assert served["status"]["phase"] == "Succeeded"
    listed = api.get("/api/v1/workflows/default", params={"fields": "items.status.nodes"}).json()
    assert any(len(w["status"].get("nodes") or {}) == 62 for w in listed["items"])
    assert len(stored["status"]["compressedNodes"]) < len(str(served["status"]["nodes"])) / 4
