"""An InferencePool on a real control plane: the pool controller counts ready endpoints in
its status, and the gateway's watched discovery sees each Pod change without polling.

The Pods are bound to a node that does not exist, so nothing runs them; the test plays the
node's part by writing their status."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from dockyard.server import BackgroundControlPlane
from dockyard.serving.gateway import PoolWatch
from dockyard.serving.labels import DRAINING_ANNOTATION, ENGINE_ROLE_LABEL, PORT_ANNOTATION

POOLS = "/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/default/inferencepools"
PODS = "/api/v1/namespaces/default/pods"
MERGE = {"content-type": "application/merge-patch+json"}


def pod(name: str, port: int, role: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"app": "watched", ENGINE_ROLE_LABEL: role},
            "annotations": {PORT_ANNOTATION: str(port)},
        },
        "spec": {
            "nodeName": "no-such-node",
            "containers": [{"name": "engine", "image": "dockyard/engine-emulator"}],
        },
    }


def pool_status(http: httpx.Client) -> dict[str, Any]:
    status: dict[str, Any] = http.get(f"{POOLS}/watched").json().get("status") or {}
    return status


def wait_for(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.05)
    return value


@pytest.mark.timeout(60)
def test_pool_status_and_watched_discovery_follow_pod_changes(
    plane: BackgroundControlPlane, http: httpx.Client
) -> None:
    pool = {
        "apiVersion": "inference.networking.x-k8s.io/v1alpha2",
        "kind": "InferencePool",
        "metadata": {"name": "watched"},
        "spec": {"selector": {"app": "watched"}, "targetPortNumber": 8000},
    }
    assert http.post(POOLS, json=pool).status_code == 201
    wait_for(lambda: pool_status(http).get("conditions"))
    assert pool_status(http)["readyEndpoints"] == 0
    assert pool_status(http)["conditions"][0]["reason"] == "NoReadyEndpoints"

    seen: list[dict[str, str]] = []

    def step(check: Any) -> None:
        """Wait (in the test thread) for the watch to deliver a set satisfying ``check``."""
        wait_for(lambda: seen and check(seen[-1]))

    async def scenario() -> dict[str, str]:
        watch = PoolWatch(plane.url, plane.cp.token, "default", "watched", retry_seconds=0.1)
        start = await watch()
        task = asyncio.create_task(watch.run(seen.append))
        try:
            loop = asyncio.get_running_loop()
            for name, port, role in (("watched-a", 9101, "decode"), ("watched-b", 9102, "both")):
                await loop.run_in_executor(None, lambda n=name, p=port, r=role: _run(http, n, p, r))
            want = {"http://127.0.0.1:9101": "decode", "http://127.0.0.1:9102": "both"}
            await loop.run_in_executor(None, step, lambda s: s == want)
            patch = {"metadata": {"annotations": {DRAINING_ANNOTATION: "true"}}}
            await loop.run_in_executor(
                None, lambda: http.patch(f"{PODS}/watched-a", json=patch, headers=MERGE)
            )
            await loop.run_in_executor(None, step, lambda s: s == {"http://127.0.0.1:9102": "both"})
            await loop.run_in_executor(None, lambda: http.delete(f"{PODS}/watched-b"))
            await loop.run_in_executor(None, step, lambda s: s == {})
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await watch.close()
        return start

    # The pool's status as each Pod comes up is checked in _run; here, the initial list
    # (no Pods yet) and the end state.
    assert asyncio.run(scenario()) == {}
    status = wait_for(lambda: (s := pool_status(http)).get("readyEndpoints") == 0 and s)
    assert status["conditions"][0]["status"] == "False"
    assert status["endpointsByRole"] == {}


def _run(http: httpx.Client, name: str, port: int, role: str) -> None:
    """Create the Pod and report it Running, as its node would; check the pool's count."""
    before = pool_status(http).get("readyEndpoints", 0)
    assert http.post(PODS, json=pod(name, port, role)).status_code == 201
    status = {"status": {"phase": "Running", "podIP": "127.0.0.1"}}
    assert http.patch(f"{PODS}/{name}/status", json=status, headers=MERGE).status_code == 200
    after = wait_for(lambda: (s := pool_status(http)).get("readyEndpoints") == before + 1 and s)
    assert after["conditions"][0]["status"] == "True"
    assert after["endpointsByRole"][role] >= 1
