"""Create, read, list, replace, patch, delete and apply against the fake API."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fake_api import FakeApi, status_body
from sdk_driver import Driver

from dockyard.client import (
    AlreadyExistsError,
    ConflictError,
    InvalidError,
    NotFoundError,
)


def pod(name: str = "p", **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, **metadata},
        "spec": {"containers": [{"name": "main", "image": "busybox", "command": ["true"]}]},
    }


WORKFLOW = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "wf1"},
    "spec": {"entrypoint": "main"},
}
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}


@pytest.mark.parametrize(
    ("obj", "namespace", "path"),
    [
        (pod(), None, "/api/v1/namespaces/default/pods"),
        (pod(), "ml", "/api/v1/namespaces/ml/pods"),
        (pod(namespace="ml"), None, "/api/v1/namespaces/ml/pods"),
        (WORKFLOW, None, "/apis/argoproj.io/v1alpha1/namespaces/default/workflows"),
        (NAMESPACE, "ignored", "/api/v1/namespaces"),
    ],
    ids=["pod-default-ns", "pod-explicit-ns", "pod-own-ns", "group-kind", "cluster-scoped"],
)
def test_create_posts_to_the_collection(
    driver: Driver, fake: FakeApi, obj: dict[str, Any], namespace: str | None, path: str
) -> None:
    created = driver("create", obj, namespace)

    request = fake.requests[-1]
    assert (request.method, request.url.path) == ("POST", path)
    assert created["metadata"]["name"] == obj["metadata"]["name"]
    assert created["metadata"]["resourceVersion"]
    assert obj["metadata"].get("namespace") in (None, "ml")  # caller's dict left untouched


def test_create_with_generate_name_returns_the_generated_name(driver: Driver) -> None:
    manifest = pod()
    del manifest["metadata"]["name"]
    manifest["metadata"]["generateName"] = "job-"

    created = driver("create", manifest)

    assert created["metadata"]["name"].startswith("job-")
    assert driver("get", "pod", created["metadata"]["name"])["kind"] == "Pod"


def test_create_rejects_a_namespace_contradicting_the_object(driver: Driver) -> None:
    with pytest.raises(ValueError, match="does not match"):
        driver("create", pod(namespace="a"), "b")


NO_IMAGE = pod() | {"spec": {"containers": [{"name": "main"}]}}


@pytest.mark.parametrize(
    ("obj", "expected_in_str"),
    [
        (NO_IMAGE, ["Invalid (422)", "spec.containers[0].image", "FieldValueRequired"]),
        (pod(name="Bad_Name"), ["Invalid (422)", "metadata.name", "FieldValueInvalid"]),
    ],
    ids=["missing-image", "bad-name"],
)
def test_invalid_objects_raise_with_the_failing_field(
    driver: Driver, obj: dict[str, Any], expected_in_str: list[str]
) -> None:
    with pytest.raises(InvalidError) as caught:
        driver("create", obj)

    for fragment in expected_in_str:
        assert fragment in str(caught.value)


def test_create_twice_raises_already_exists(driver: Driver) -> None:
    driver("create", pod())
    with pytest.raises(AlreadyExistsError) as caught:
        driver("create", pod())
    assert caught.value.status_code == 409
    assert caught.value.reason == "AlreadyExists"


def test_get_missing_raises_not_found(driver: Driver) -> None:
    with pytest.raises(NotFoundError, match='pods "ghost" not found'):
        driver("get", "pods", "ghost")


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (None, ["a", "b", "c"]),
        ("app=web", ["a", "b"]),
        ("app=web,tier!=db", ["a"]),
        ("tier in (db,cache)", ["b", "c"]),
        ("!tier", ["a"]),
    ],
    ids=["all", "equals", "and-not-equals", "set-in", "not-exists"],
)
def test_list_passes_the_label_selector(
    driver: Driver, fake: FakeApi, selector: str | None, expected: list[str]
) -> None:
    fake.put(pod("a", labels={"app": "web"}))
    fake.put(pod("b", labels={"app": "web", "tier": "db"}))
    fake.put(pod("c", labels={"app": "batch", "tier": "cache"}))

    listing = driver("list", "pods", "default", selector)

    assert [i["metadata"]["name"] for i in listing["items"]] == expected
    assert listing["kind"] == "PodList"
    assert listing["metadata"]["resourceVersion"] == str(fake.rv)


def test_list_across_namespaces_uses_the_cluster_path(driver: Driver, fake: FakeApi) -> None:
    fake.put(pod("a", namespace="x"))
    fake.put(pod("b", namespace="y"))

    listing = driver("list", "po", None)

    assert fake.requests[-1].url.path == "/api/v1/pods"
    assert sorted(i["metadata"]["name"] for i in listing["items"]) == ["a", "b"]


def test_list_follows_continue_tokens(driver: Driver, fake: FakeApi) -> None:
    for i in range(5):
        fake.put(pod(f"p{i}"))

    listing = driver("list", "pods", limit=2)

    assert [i["metadata"]["name"] for i in listing["items"]] == [f"p{i}" for i in range(5)]
    pages = [r for r in fake.requests if r.url.path.endswith("/pods")]
    assert [r.url.params.get("continue") for r in pages] == [None, "2", "4"]
    assert "continue" not in listing["metadata"]


def test_replace_needs_the_current_resource_version(driver: Driver, fake: FakeApi) -> None:
    current = driver("create", pod())
    current["metadata"]["labels"] = {"v": "2"}

    replaced = driver("replace", current)
    assert replaced["metadata"]["labels"] == {"v": "2"}

    with pytest.raises(ConflictError, match="has been modified"):
        driver("replace", current)  # its resourceVersion is now stale
    stripped = {**current, "metadata": {"name": "p", "namespace": "default"}}
    with pytest.raises(ValueError, match="resourceVersion"):
        driver("replace", stripped)


def test_patch_sends_a_merge_patch(driver: Driver, fake: FakeApi) -> None:
    fake.put(pod(labels={"keep": "1", "drop": "1"}))

    patched = driver("patch", "pod", "p", {"metadata": {"labels": {"drop": None, "new": "1"}}})

    assert fake.requests[-1].headers["Content-Type"] == "application/merge-patch+json"
    assert patched["metadata"]["labels"] == {"keep": "1", "new": "1"}


@pytest.mark.parametrize(
    ("finalizers", "still_stored"),
    [([], False), (["dockyard.io/cleanup"], True)],
    ids=["deleted", "finalizing"],
)
def test_delete_returns_the_object(
    driver: Driver, fake: FakeApi, finalizers: list[str], still_stored: bool
) -> None:
    fake.put(pod(finalizers=finalizers))

    deleted = driver("delete", "pods", "p")

    assert deleted["metadata"]["name"] == "p"
    assert bool(deleted["metadata"].get("deletionTimestamp")) == still_stored
    assert (("v1", "pods", "default", "p") in fake.objects) == still_stored


# -- apply -------------------------------------------------------------------------------


def _labels(**labels: str) -> dict[str, Any]:
    return pod(labels=labels)


@pytest.mark.parametrize(
    ("first", "second", "action", "labels_after"),
    [
        (None, _labels(a="1"), "created", {"a": "1"}),
        (_labels(a="1"), _labels(a="1"), "unchanged", {"a": "1"}),
        (_labels(a="1"), _labels(a="2"), "configured", {"a": "2"}),
        (_labels(a="1", b="1"), _labels(a="1"), "configured", {"a": "1"}),
    ],
    ids=["new", "same-again", "changed-label", "removed-label"],
)
def test_apply_reports_what_it_did(
    driver: Driver,
    first: dict[str, Any] | None,
    second: dict[str, Any],
    action: str,
    labels_after: dict[str, str],
) -> None:
    if first is not None:
        driver("apply", first)

    obj, got = driver("apply", second)

    assert got == action
    assert driver("get", "pod", "p")["metadata"]["labels"] == labels_after
    assert obj["metadata"]["name"] == "p"


def test_apply_sees_changes_made_behind_its_back(driver: Driver, fake: FakeApi) -> None:
    driver("apply", _labels(a="1"))
    driver("patch", "pod", "p", {"metadata": {"labels": {"a": "tampered"}}})

    _, action = driver("apply", _labels(a="1"))

    assert action == "configured"
    assert driver("get", "pod", "p")["metadata"]["labels"]["a"] == "1"


def test_apply_keeps_status_and_ignores_server_fields_in_the_manifest(
    driver: Driver, fake: FakeApi
) -> None:
    driver("apply", _labels(a="1"))
    fake.set_status("pods", "p", phase="Running")
    exported = driver("get", "pod", "p")  # as `get -o yaml` would print it
    exported["metadata"]["resourceVersion"] = "1"  # stale, must not matter
    exported["metadata"]["labels"] = {"a": "2"}

    _, action = driver("apply", exported)

    assert action == "configured"
    assert driver("get", "pod", "p")["status"]["phase"] == "Running"


def test_apply_retries_a_lost_race(flavour: str, fake: FakeApi) -> None:
    fake.put(_labels(a="1"))
    conflicts = iter([True])

    def racing(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT" and next(conflicts, False):
            fake.requests.append(request)
            body = status_body(409, "Conflict", "the object has been modified")
            return httpx.Response(409, json=body)
        return fake.handle(request)

    d = Driver(flavour, fake, transport=httpx.MockTransport(racing))
    try:
        _, action = d("apply", _labels(a="2"))
    finally:
        d.close()

    assert action == "configured"
    methods = [r.method for r in fake.requests]
    assert (methods.count("POST"), methods.count("PUT")) == (1, 2)
    assert fake.stored("pods", "p")["metadata"]["labels"] == {"a": "2"}


def test_apply_with_generate_name_always_creates(driver: Driver) -> None:
    manifest = pod()
    manifest["metadata"] = {"generateName": "run-"}

    first, a1 = driver("apply", manifest)
    second, a2 = driver("apply", manifest)

    assert (a1, a2) == ("created", "created")
    assert first["metadata"]["name"] != second["metadata"]["name"]


def test_apply_records_the_manifest(driver: Driver) -> None:
    obj, _ = driver("apply", _labels(a="1"))

    record = obj["metadata"]["annotations"]["dockyard.io/last-applied-configuration"]
    assert json.loads(record)["metadata"] == {"name": "p", "labels": {"a": "1"}}


def test_apply_gives_up_after_repeated_conflicts(flavour: str, fake: FakeApi) -> None:
    fake.put(_labels(a="1"))

    def always_conflict(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            return httpx.Response(409, json=status_body(409, "Conflict", "modified"))
        return fake.handle(request)

    d = Driver(flavour, fake, transport=httpx.MockTransport(always_conflict))
    try:
        with pytest.raises(ConflictError):
            d("apply", _labels(a="2"))
    finally:
        d.close()
