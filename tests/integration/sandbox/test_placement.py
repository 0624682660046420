"""Sandboxes are placed on nodes by the platform's scheduler: resource fit on the
template's requests, node selectors, a clear reason when nothing fits, capacity given back
on kill, warm pools placed at refill."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from tests.conftest import free_port
from tests.integration.sandbox.conftest import traversable

from dockyard.sandbox import issue_key
from dockyard.server import BackgroundControlPlane, ControlPlaneConfig

API = "/apis/agents.x-k8s.io/v1alpha1/namespaces/default"
VIRTUAL = {"dockyard.dev/virtual": "true"}


def template(name: str, cpu: str, selector: dict[str, str] | None = None) -> dict[str, object]:
    spec: dict[str, object] = {"resources": {"requests": {"cpu": cpu, "memory": "16Mi"}}}
    if selector:
        spec["nodeSelector"] = selector
    return {
        "apiVersion": "agents.x-k8s.io/v1alpha1",
        "kind": "SandboxTemplate",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


@pytest.fixture(scope="module")
def two_virtual(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundControlPlane]:
    data_dir = traversable(tmp_path_factory.mktemp("dockyard"))
    config = ControlPlaneConfig(
        host="127.0.0.1", port=free_port(), data_dir=data_dir, virtual_nodes=2
    )
    with BackgroundControlPlane(config) as running:
        yield running


@pytest.fixture(scope="module")
def admin(two_virtual: BackgroundControlPlane) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {two_virtual.cp.token}"}
    with httpx.Client(base_url=two_virtual.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def e2b(two_virtual: BackgroundControlPlane) -> Iterator[httpx.Client]:
    key = issue_key(two_virtual.cp.data_dir, "acme")
    with httpx.Client(base_url=two_virtual.url, headers={"X-API-Key": key}, timeout=30) as c:
        yield c


def node_of(admin: httpx.Client, sandbox_id: str) -> str:
    reply = admin.get(f"{API}/sandboxes/{sandbox_id}")
    assert reply.status_code == 200, reply.text
    node: str = reply.json()["status"]["node"]
    return node


def test_sandboxes_fit_across_the_virtual_nodes_and_the_rest_is_refused(
    admin: httpx.Client, e2b: httpx.Client, two_virtual: BackgroundControlPlane
) -> None:
    # 1.5 CPUs each, virtual nodes only: one per node, two in all.
    reply = admin.post(f"{API}/sandboxtemplates", json=template("wide", "1500m", VIRTUAL))
    assert reply.status_code == 201, reply.text
    first = e2b.post("/sandboxes", json={"templateID": "wide"})
    second = e2b.post("/sandboxes", json={"templateID": "wide"})
    assert first.status_code == 201, first.text
    assert second.status_code == 201, second.text
    ids = [first.json()["sandboxID"], second.json()["sandboxID"]]
    nodes = {node_of(admin, i) for i in ids}
    virtual = {n["metadata"]["name"] for n in admin.get("/api/v1/nodes").json()["items"]
               if (n["metadata"].get("labels") or {}).get("dockyard.dev/virtual") == "true"}  # fmt: skip
    assert nodes == virtual and len(virtual) == 2

    third = e2b.post("/sandboxes", json={"templateID": "wide"})
    assert third.status_code == 503, third.text
    message = third.json()["message"]
    assert "0/3 nodes are available" in message
    assert "2 insufficient cpu" in message and "1 node(s) didn't match node selector" in message

    # Killing one gives its node's capacity back: the next one goes there.
    freed = node_of(admin, ids[0])
    assert e2b.delete(f"/sandboxes/{ids[0]}").status_code == 204
    fourth = e2b.post("/sandboxes", json={"templateID": "wide"})
    assert fourth.status_code == 201, fourth.text
    assert node_of(admin, fourth.json()["sandboxID"]) == freed
    for sandbox_id in (ids[1], fourth.json()["sandboxID"]):
        assert e2b.delete(f"/sandboxes/{sandbox_id}").status_code == 204


def test_a_warm_pool_that_fits_nowhere_says_why(admin: httpx.Client) -> None:
    reply = admin.post(f"{API}/sandboxtemplates", json=template("huge", "64"))
    assert reply.status_code == 201, reply.text
    pool = {
        "apiVersion": "agents.x-k8s.io/v1alpha1",
        "kind": "SandboxWarmPool",
        "metadata": {"name": "huge", "namespace": "default"},
        "spec": {"replicas": 1, "templateRef": {"name": "huge"}},
    }
    assert admin.post(f"{API}/sandboxwarmpools", json=pool).status_code == 201
    status: dict[str, object] = {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = admin.get(f"{API}/sandboxwarmpools/huge").json().get("status") or {}
        if status.get("message"):
            break
        time.sleep(0.1)
    assert status.get("readyReplicas") == 0
    assert "insufficient cpu" in str(status.get("message"))
    assert admin.delete(f"{API}/sandboxwarmpools/huge").status_code == 200
