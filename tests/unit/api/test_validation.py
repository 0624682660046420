"""Validation of core kinds: the errors name the failing field and the reason."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.api import REGISTRY, InvalidError, validate_object
from dockyard.api.labels import parse_selector
from dockyard.api.quantity import QuantityError, cpu_millis, memory_bytes
from dockyard.api.resources import pod_limits, pod_requests
from dockyard.testing import make_pod

POD = REGISTRY.get("v1", "Pod")


def _invalid_fields(obj: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidError) as info:
        validate_object(POD, obj)
    return [c.field for c in info.value.causes]


def _with(path: str, value: Any) -> dict[str, Any]:
    pod = make_pod("p").build()
    target: Any = pod
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    target[parts[-1]] = value
    return pod


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        pytest.param("metadata.name", "a..b", "metadata.name", id="name-double-dot"),
        pytest.param("metadata.name", "a/b", "metadata.name", id="name-slash"),
        pytest.param("metadata.name", "UPPER", "metadata.name", id="name-upper"),
        pytest.param("spec.containers.0.image", "", "spec.containers[0].image", id="empty-image"),
        pytest.param(
            "spec.containers.0.name", "Bad_Name", "spec.containers[0].name", id="container-name"
        ),
        pytest.param(
            "spec.containers.0.bogus", 1, "spec.containers[0].bogus", id="unknown-container-field"
        ),
        pytest.param("spec.bogus", 1, "spec.bogus", id="unknown-pod-field"),
        pytest.param("spec.restartPolicy", "Sometimes", "spec.restartPolicy", id="restart-policy"),
        pytest.param(
            "spec.activeDeadlineSeconds", 0, "spec.activeDeadlineSeconds", id="deadline-zero"
        ),
        pytest.param(
            "spec.containers.0.command",
            "echo hi",
            "spec.containers[0].command",
            id="command-string",
        ),
        pytest.param(
            "spec.containers.0.resources",
            {"requests": {"cpu": "lots"}},
            "spec.containers[0].resources.requests",
            id="bad-quantity",
        ),
        pytest.param(
            "spec.containers.0.resources",
            {"limits": {"gpu": "1"}},
            "spec.containers[0].resources.limits",
            id="unqualified-resource",
        ),
        pytest.param(
            "spec.volumes",
            [{"name": "v", "configMap": {"name": "x"}}],
            "spec.volumes[0]",
            id="volume-source",
        ),
        pytest.param("spec.containers", [], "spec.containers", id="no-containers"),
    ],
)
def test_invalid_pod_names_field(path: str, value: Any, field: str) -> None:
    assert field in _invalid_fields(_with(path, value))


def test_valid_pod_is_defaulted_and_keeps_ignored_fields() -> None:
    pod = make_pod("ok").build()
    pod["spec"].pop("restartPolicy")
    pod["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    out = validate_object(POD, pod).to_dict()
    assert out["spec"]["restartPolicy"] == "Always"
    assert out["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert out["status"]["phase"] == "Pending"


def test_mount_of_unknown_volume_is_rejected() -> None:
    pod = make_pod("m").build()
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "nope", "mountPath": "/data"}]
    with pytest.raises(InvalidError, match="nope"):
        validate_object(POD, pod)


@pytest.mark.parametrize(
    ("text", "millis"),
    [("500m", 500), ("1", 1000), ("0.25", 250), ("2.5", 2500), ("1k", 1_000_000), (2, 2000)],
    ids=["milli", "one", "fraction", "decimal", "kilo", "int"],
)
def test_cpu_quantities(text: str | int, millis: int) -> None:
    assert cpu_millis(text) == millis


@pytest.mark.parametrize(
    ("text", "num"),
    [("128Mi", 128 * 2**20), ("1Gi", 2**30), ("1G", 10**9), ("100", 100), ("1e3", 1000)],
    ids=["mebi", "gibi", "giga", "plain", "exponent"],
)
def test_memory_quantities(text: str, num: int) -> None:
    assert memory_bytes(text) == num


def test_bad_quantity_raises() -> None:
    with pytest.raises(QuantityError):
        cpu_millis("one")


def test_pod_requests_take_max_of_init_and_sum_of_app() -> None:
    pod = make_pod("r").cpu("300m", limit="1").memory("64Mi", limit="128Mi").build()
    pod["spec"]["containers"].append(
        {
            "name": "side",
            "image": "busybox",
            "resources": {"limits": {"cpu": "200m", "memory": "32Mi"}},
        }
    )
    pod["spec"]["initContainers"] = [
        {"name": "init", "image": "busybox", "resources": {"requests": {"cpu": "2"}}}
    ]
    assert pod_requests(pod["spec"]) == {"cpu": 2000, "memory": 96 * 2**20}
    assert pod_limits(pod["spec"]) == {"cpu": 1200, "memory": 160 * 2**20}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app!=web", {}, True),
        ("tier in (a, b)", {"tier": "b"}, True),
        ("tier notin (a,b)", {"tier": "b"}, False),
        ("gpu", {"gpu": ""}, True),
        ("!gpu", {"gpu": "1"}, False),
        ("app=web,tier in (a)", {"app": "web", "tier": "a"}, True),
    ],
    ids=["eq", "eq-miss", "neq-absent", "in", "notin", "exists", "not-exists", "and"],
)
def test_label_selectors(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_selector(selector).matches(labels) is expected


def test_status_written_by_the_node_round_trips() -> None:
    pod = make_pod("s").build()
    pod["status"] = {
        "phase": "Running",
        "hostIP": "127.0.0.1",
        "podIP": "127.0.0.1",
        "startTime": "2026-01-01T00:00:00Z",
        "containerStatuses": [
            {
                "name": "main",
                "restartCount": 1,
                "ready": True,
                "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
            }
        ],
    }
    assert validate_object(POD, pod).to_dict()["status"] == pod["status"]
