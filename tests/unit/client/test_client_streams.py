"""Watch, logs and wait_for: the streaming half of the SDK."""

from __future__ import annotations

from typing import Any

import pytest
from fake_api import FakeApi
from sdk_driver import Driver

from dockyard.client import (
    BadRequestError,
    ConditionUnreachableError,
    GoneError,
    NotFoundError,
    WaitTimeoutError,
    WatchEvent,
)


def test_watch_yields_events_after_the_resource_version(driver: Driver, fake: FakeApi) -> None:
    fake.pod("old")
    rv = str(fake.rv)
    fake.pod("new")
    fake.set_status("pods", "new", phase="Running")
    fake.remove("pods", "old")

    events = driver.collect("watch", "pods", "default", resource_version=rv)

    assert [(e.type, e.name) for e in events] == [
        ("ADDED", "new"),
        ("MODIFIED", "new"),
        ("DELETED", "old"),
    ]
    assert all(isinstance(e, WatchEvent) for e in events)
    assert events[1].object["status"]["phase"] == "Running"
    assert events[1].resource_version == str(int(rv) + 2)
    params = fake.requests[-1].url.params
    assert (params["watch"], params["resourceVersion"]) == ("true", rv)


@pytest.mark.parametrize(
    ("kwargs", "expected_params"),
    [
        ({"name": "a"}, {"fieldSelector": "metadata.name=a"}),
        ({"label_selector": "app=web"}, {"labelSelector": "app=web"}),
        ({"timeout": 2.5}, {"timeoutSeconds": "3"}),
    ],
    ids=["by-name", "by-label", "timeout"],
)
def test_watch_query_parameters(
    driver: Driver, fake: FakeApi, kwargs: dict[str, Any], expected_params: dict[str, str]
) -> None:
    driver.collect("watch", "pods", "default", resource_version="1", **kwargs)

    params = dict(fake.requests[-1].url.params)
    assert params.items() >= expected_params.items()


def test_watch_without_resource_version_starts_with_current_objects(
    driver: Driver, fake: FakeApi
) -> None:
    fake.pod("a")

    events = driver.collect("watch", "pod")

    assert [(e.type, e.name) for e in events] == [("ADDED", "a")]


def test_watch_raises_gone_for_a_compacted_resource_version(driver: Driver, fake: FakeApi) -> None:
    fake.pod("a")
    fake.pod("b")
    fake.compact()

    with pytest.raises(GoneError) as caught:
        driver.collect("watch", "pods", resource_version="100")
    assert caught.value.status_code == 410


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "line 1\nline 2\nline 3\n"),
        ({"container": "sidecar"}, "side\n"),
        ({"tail_lines": 1}, "line 3\n"),
    ],
    ids=["default-container", "named-container", "tail"],
)
def test_logs_streams_text(
    driver: Driver, fake: FakeApi, kwargs: dict[str, Any], expected: str
) -> None:
    fake.pod("p")
    fake.logs[("default", "p")] = {"main": "line 1\nline 2\nline 3\n", "sidecar": "side\n"}

    text = "".join(driver.collect("logs", "p", **kwargs))

    assert text == expected


@pytest.mark.parametrize(
    ("pod_exists", "error"), [(False, NotFoundError), (True, BadRequestError)],
    ids=["missing-pod", "missing-container"],
)  # fmt: skip
def test_logs_errors_are_typed(
    driver: Driver, fake: FakeApi, pod_exists: bool, error: type[Exception]
) -> None:
    if pod_exists:
        fake.pod("p")
        fake.logs[("default", "p")] = {"main": ""}
    with pytest.raises(error):
        driver.collect("logs", "p", container="nope")


def _to_phase(phase: str) -> Any:
    return lambda api: api.set_status("pods", "p", phase=phase)


@pytest.mark.parametrize(
    ("start_phase", "scripted", "kwargs", "final_phase"),
    [
        ("Succeeded", [], {"phase": "Succeeded"}, "Succeeded"),
        ("Pending", [_to_phase("Running"), _to_phase("Succeeded")], {"phase": "Succeeded"},
         "Succeeded"),
        ("Running", [lambda api: api.set_status(
            "pods", "p", conditions=[{"type": "Ready", "status": "True"}])],
         {"condition": "ready"}, "Running"),
        ("Running", [_to_phase("Failed")],
         {"predicate": lambda o: o is not None and o["status"]["phase"] in ("Failed", "X")},
         "Failed"),
    ],
    ids=["already-there", "after-two-changes", "condition", "predicate"],
)  # fmt: skip
def test_wait_for_returns_the_object_once_met(
    driver: Driver,
    fake: FakeApi,
    start_phase: str,
    scripted: list[Any],
    kwargs: dict[str, Any],
    final_phase: str,
) -> None:
    fake.pod("p", phase=start_phase)
    fake.on_watch.extend(scripted)

    obj = driver("wait_for", "pod", "p", timeout=5, **kwargs)

    assert obj["status"]["phase"] == final_phase


def test_wait_for_deletion_returns_none(driver: Driver, fake: FakeApi) -> None:
    fake.pod("p", phase="Running")
    fake.on_watch.append(lambda api: api.remove("pods", "p"))

    assert driver("wait_for", "pods", "p", deleted=True, timeout=5) is None


def test_wait_for_relists_after_gone(driver: Driver, fake: FakeApi) -> None:
    fake.pod("p", phase="Running")

    def compact_then_finish(api: FakeApi) -> None:
        api.set_status("pods", "p", phase="Succeeded")
        api.compact()

    fake.on_watch.append(compact_then_finish)

    obj = driver("wait_for", "pod", "p", phase="Succeeded", timeout=5)

    assert obj["status"]["phase"] == "Succeeded"
    lists = [r for r in fake.requests if r.method == "GET" and "watch" not in r.url.params]
    assert len([r for r in lists if r.url.path.endswith("/pods")]) == 2


def test_wait_for_a_phase_that_can_no_longer_happen_fails_fast(
    driver: Driver, fake: FakeApi
) -> None:
    fake.pod("p", phase="Running")
    fake.on_watch.append(_to_phase("Failed"))

    with pytest.raises(ConditionUnreachableError, match="phase is Failed") as caught:
        driver("wait_for", "pod", "p", phase="Succeeded", timeout=5)
    assert caught.value.object is not None
    assert caught.value.object["status"]["phase"] == "Failed"


@pytest.mark.parametrize(
    ("exists", "message"),
    [(True, "phase is Running"), (False, "it does not exist")],
    ids=["stuck", "absent"],
)
def test_wait_for_times_out_with_the_last_state(
    driver: Driver, fake: FakeApi, exists: bool, message: str
) -> None:
    if exists:
        fake.pod("p", phase="Running")

    with pytest.raises(WaitTimeoutError, match=message):
        driver("wait_for", "pod", "p", phase="Succeeded", timeout=0.2)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"phase": "A", "deleted": True}],
    ids=["none", "two"],
)
def test_wait_for_needs_exactly_one_condition(driver: Driver, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        driver("wait_for", "pod", "p", **kwargs)
