"""Kind discovery and resolution, and the paths each kind maps to."""

from __future__ import annotations

import pytest
from fake_api import KINDS, FakeApi
from sdk_driver import Driver

from dockyard.client import KindInfo, UnknownKindError
from dockyard.client._kinds import KindTable
from dockyard.client._paths import collection_path, item_path

TABLE = KindTable(KindInfo.from_dict(k) for k in KINDS)
POD, NAMESPACE, NODE, WORKFLOW = (KindInfo.from_dict(k) for k in KINDS)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("Pod", POD), ("pods", POD), ("POD", POD), ("po", POD),
        ("ns", NAMESPACE), ("nodes", NODE),
        ("wf", WORKFLOW), ("Workflow", WORKFLOW),
        ("workflows.argoproj.io", WORKFLOW), ("workflow.v1alpha1.argoproj.io", WORKFLOW),
        ("pods.argoproj.io", None), ("gadgets", None),
    ],
    ids=[
        "kind", "plural", "upper", "short", "cluster-short", "cluster-plural", "group-short",
        "group-kind", "plural-dot-group", "singular-dot-version-group", "wrong-group", "unknown",
    ],
)  # fmt: skip
def test_resolve(word: str, expected: KindInfo | None) -> None:
    assert TABLE.resolve(word) == expected


def test_unqualified_word_prefers_the_core_group() -> None:
    shadow = KindInfo("example.com/v1", "Pod", "pods", "pod", True)
    assert KindTable([shadow, POD]).resolve("pods") == POD


@pytest.mark.parametrize(
    ("info", "namespace", "name", "expected"),
    [
        (POD, "default", None, "/api/v1/namespaces/default/pods"),
        (POD, None, None, "/api/v1/pods"),
        (POD, "ml", "p", "/api/v1/namespaces/ml/pods/p"),
        (NODE, "ignored", "n1", "/api/v1/nodes/n1"),
        (WORKFLOW, "default", "w", "/apis/argoproj.io/v1alpha1/namespaces/default/workflows/w"),
        (WORKFLOW, None, None, "/apis/argoproj.io/v1alpha1/workflows"),
        (POD, "default", "a/../b", "/api/v1/namespaces/default/pods/a%2F..%2Fb"),
    ],
    ids=[
        "collection", "all-namespaces", "item", "cluster-scoped-item", "group-item",
        "group-all-namespaces", "name-is-one-segment",
    ],
)  # fmt: skip
def test_paths(info: KindInfo, namespace: str | None, name: str | None, expected: str) -> None:
    path = collection_path(info, namespace) if name is None else item_path(info, name, namespace)
    assert path == expected


def test_item_of_namespaced_kind_needs_a_namespace() -> None:
    with pytest.raises(ValueError, match="namespaced"):
        item_path(POD, "p", None)


def test_kinds_lists_discovery(driver: Driver) -> None:
    kinds = driver("kinds")
    assert [k.kind for k in kinds] == ["Pod", "Namespace", "Node", "Workflow"]
    assert kinds[3].display_name == "workflow.argoproj.io"


def test_a_kind_registered_later_is_found_by_refreshing(driver: Driver, fake: FakeApi) -> None:
    driver("list", "pods")  # caches discovery
    fake.kinds.append(
        {"apiVersion": "sandbox.dockyard.io/v1", "kind": "Sandbox", "plural": "sandboxes",
         "singular": "sandbox", "namespaced": True}
    )  # fmt: skip

    listing = driver("list", "sandboxes")

    assert listing["items"] == []
    assert fake.requests[-1].url.path == "/apis/sandbox.dockyard.io/v1/namespaces/default/sandboxes"
    with pytest.raises(UnknownKindError, match='resource type "gizmos"'):
        driver("list", "gizmos")
