"""The HTTP API against a real control plane: CRUD, watch, errors, auth."""

from __future__ import annotations

import json
import ssl
import threading
from typing import Any

import httpx
import pytest
import yaml

from dockyard.server import BackgroundControlPlane
from dockyard.testing import make_pod

PODS = "/api/v1/namespaces/default/pods"


def sleeper(name: str) -> dict[str, Any]:
    return make_pod(name).shell("sleep 30").build()


def test_health_and_version_are_public(plane: BackgroundControlPlane) -> None:
    with httpx.Client(base_url=plane.url) as anon:
        assert anon.get("/healthz").text == "ok"
        assert anon.get("/readyz").status_code == 200
        assert anon.get("/version").json()["version"]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"Authorization": "Bearer wrong"}, id="wrong"),
        pytest.param({"Authorization": "Basic abc"}, id="not-bearer"),
    ],
)
def test_requests_without_valid_token_are_401(
    plane: BackgroundControlPlane, headers: dict[str, str]
) -> None:
    with httpx.Client(base_url=plane.url, headers=headers) as anon:
        response = anon.get(PODS)
    assert response.status_code == 401
    assert response.json()["reason"] == "Unauthorized"


def test_token_file_is_private(plane: BackgroundControlPlane) -> None:
    mode = (plane.cp.data_dir / "token").stat().st_mode & 0o777
    assert mode == 0o600


def test_discovery_lists_core_kinds(http: httpx.Client) -> None:
    kinds = {k["kind"]: k for k in http.get("/api/kinds").json()["kinds"]}
    assert kinds["Pod"]["plural"] == "pods" and kinds["Pod"]["namespaced"]
    assert not kinds["Node"]["namespaced"]


def test_nodes_registered_with_virtual_gpus(http: httpx.Client) -> None:
    nodes = http.get("/api/v1/nodes").json()["items"]
    virtual = [n for n in nodes if n["metadata"]["labels"].get("dockyard.dev/virtual") == "true"]
    assert len(nodes) == 3 and len(virtual) == 2
    assert all(n["status"]["capacity"]["nvidia.com/gpu"] == "2" for n in virtual)


def test_crud_and_optimistic_concurrency(http: httpx.Client) -> None:
    created = http.post(PODS, json=sleeper("crud"))
    assert created.status_code == 201
    pod = created.json()
    stale = dict(pod)
    patched = http.patch(
        f"{PODS}/crud",
        content=json.dumps({"metadata": {"labels": {"x": "1"}}}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200 and patched.json()["metadata"]["labels"] == {"x": "1"}
    stale["metadata"]["labels"] = {"x": "stale"}
    conflict = http.put(f"{PODS}/crud", json=stale)
    assert conflict.status_code == 409 and conflict.json()["reason"] == "Conflict", conflict.text
    assert http.get(f"{PODS}/crud").json()["metadata"]["labels"] == {"x": "1"}
    listed = http.get(PODS, params={"labelSelector": "x=1"}).json()
    assert [p["metadata"]["name"] for p in listed["items"]] == ["crud"]
    assert http.delete(f"{PODS}/crud").status_code == 200
    assert http.get(f"{PODS}/crud").status_code == 404


def test_generate_name(http: httpx.Client) -> None:
    body = make_pod(None).build()
    body["metadata"]["generateName"] = "gen-"
    response = http.post(PODS, json=body)
    assert response.status_code == 201
    assert response.json()["metadata"]["name"].startswith("gen-")


@pytest.mark.parametrize(
    ("content", "content_type", "status", "field"),
    [
        pytest.param("{not json", "application/json", 400, None, id="malformed-json"),
        pytest.param("a: [1, 2", "application/yaml", 400, None, id="malformed-yaml"),
        pytest.param("[1, 2]", "application/json", 400, None, id="not-an-object"),
        pytest.param(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "x"},
                    "spec": {"containers": "no"},
                }
            ),
            "application/json",
            422,
            "spec.containers",
            id="wrong-type",
        ),
        pytest.param(
            json.dumps({**make_pod("x").build(), "spek": {}}),
            "application/json",
            422,
            "spek",
            id="unknown-field",
        ),
        pytest.param(
            json.dumps(make_pod("../etc").build()),
            "application/json",
            422,
            "metadata.name",
            id="dotdot-name",
        ),
        pytest.param(
            json.dumps(make_pod("x").image("nvcr.io/nvidia/pytorch:24.01").build()),
            "application/json",
            422,
            "spec.containers[0].image",
            id="unknown-image",
        ),
        pytest.param(
            json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}}),
            "application/json",
            400,
            "kind",
            id="kind-mismatch",
        ),
    ],
)
def test_bad_input_is_rejected_with_field(
    http: httpx.Client, content: str, content_type: str, status: int, field: str | None
) -> None:
    response = http.post(PODS, content=content, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    body = response.json()
    assert body["kind"] == "Status" and body["message"]
    if field:
        assert field in [c["field"] for c in body["details"]["causes"]]
    assert http.get(f"{PODS}/x").status_code == 404  # nothing half-written


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        pytest.param(f"{PODS}/a..b", 400, "BadRequest", id="dotdot-name"),
        pytest.param("/api/v1/namespaces/a..b/pods", 400, "BadRequest", id="dotdot-namespace"),
        # '%2F' decodes into extra path segments that no route serves: nothing escapes.
        pytest.param(f"{PODS}/..%2F..%2Fetc%2Fpasswd", 404, "NotFound", id="encoded-slash"),
    ],
)
def test_bad_names_in_path_are_rejected(
    http: httpx.Client, path: str, status: int, reason: str
) -> None:
    response = http.get(path)
    assert response.status_code == status
    assert response.json()["reason"] == reason


def test_unknown_kind_is_404(http: httpx.Client) -> None:
    response = http.get("/apis/example.com/v1/namespaces/default/widgets")
    assert response.status_code == 404 and response.json()["reason"] == "NotFound"


def test_unknown_namespace_is_404(http: httpx.Client) -> None:
    body = sleeper("x")
    del body["metadata"]["namespace"]
    response = http.post("/api/v1/namespaces/nowhere/pods", json=body)
    assert response.status_code == 404
    mismatched = http.post("/api/v1/namespaces/other/pods", json=sleeper("x"))
    assert mismatched.status_code == 400


def test_yaml_body_accepted(http: httpx.Client) -> None:
    response = http.post(
        PODS,
        content=yaml.safe_dump(make_pod("from-yaml").build()),
        headers={"Content-Type": "application/yaml"},
    )
    assert response.status_code == 201


def test_pod_spec_is_immutable(http: httpx.Client) -> None:
    pod = http.post(PODS, json=sleeper("immutable")).json()
    pod["spec"]["containers"][0]["command"] = ["true"]
    response = http.put(f"{PODS}/immutable", json=pod)
    assert (
        response.status_code == 422 and response.json()["details"]["causes"][0]["field"] == "spec"
    )
    http.delete(f"{PODS}/immutable")


def test_watch_streams_events_from_resource_version(
    http: httpx.Client, plane: BackgroundControlPlane
) -> None:
    listing = http.get("/api/v1/namespaces/default/pods").json()
    rv = listing["metadata"]["resourceVersion"]
    events: list[dict[str, Any]] = []
    done = threading.Event()

    def consume() -> None:
        with (
            httpx.Client(base_url=plane.url, headers=http.headers, timeout=30) as watcher,
            watcher.stream(
                "GET",
                PODS,
                params={
                    "watch": "true",
                    "resourceVersion": rv,
                    "fieldSelector": "metadata.name=watched",
                },
            ) as response,
        ):
            for line in response.iter_lines():
                if line:
                    events.append(json.loads(line))
                    if events[-1]["type"] == "DELETED":
                        done.set()
                        return

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    http.post(PODS, json=make_pod("watched").build())
    # Wait until it ran so its status changes are in the stream, then delete.
    import time

    deadline = time.monotonic() + 20
    while http.get(f"{PODS}/watched").json()["status"]["phase"] not in ("Succeeded", "Failed"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    http.delete(f"{PODS}/watched")
    assert done.wait(10)
    types = [e["type"] for e in events]
    assert types[0] == "ADDED" and types[-1] == "DELETED" and "MODIFIED" in types
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs)


def test_metrics_exposed(http: httpx.Client) -> None:
    text = http.get("/metrics").text
    assert "dockyard_api_requests_total" in text and "dockyard_store_writes_total" in text


def test_namespace_delete_cascades(http: httpx.Client) -> None:
    assert (
        http.post(
            "/api/v1/namespaces",
            json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tmp"}},
        ).status_code
        == 201
    )
    inner = sleeper("inner")
    inner["metadata"]["namespace"] = "tmp"
    assert http.post("/api/v1/namespaces/tmp/pods", json=inner).status_code == 201
    http.delete("/api/v1/namespaces/tmp")
    assert http.get("/api/v1/namespaces/tmp/pods/inner").status_code == 404


def test_openapi_spec_lists_the_object_paths(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    assert spec["info"]["title"] == "Dockyard"
    assert "/api/{version}/namespaces/{namespace}/{plural}" in spec["paths"]


def test_tls_serves_https_with_a_generated_certificate(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from tests.conftest import free_port

    from dockyard.server import ControlPlaneConfig

    data_dir = tmp_path_factory.mktemp("tls")
    config = ControlPlaneConfig(port=free_port(), data_dir=data_dir, tls=True)
    with BackgroundControlPlane(config) as secure:
        assert secure.url.startswith("https://")
        cert = data_dir / "tls.crt"
        with httpx.Client(verify=ssl.create_default_context(cafile=str(cert))) as client:
            assert client.get(f"{secure.url}/healthz").text == "ok"
        assert (data_dir / "tls.key").stat().st_mode & 0o777 == 0o600
