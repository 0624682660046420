"""The object store against real SQLite files."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from dockyard.api.errors import (
    AlreadyExistsError,
    ConflictError,
    GoneError,
    InvalidError,
    NotFoundError,
)
from dockyard.api.labels import parse_selector
from dockyard.store import ObjectStore

POD = "v1/Pod"


def pod(name: str | None = None, **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": "default", "labels": labels}
    if name:
        meta["name"] = name
    else:
        meta["generateName"] = "gen-"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"x": 1}}


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path / "state.db")


def test_create_assigns_identity(store: ObjectStore) -> None:
    created = store.create(POD, pod("a"))
    meta = created["metadata"]
    assert meta["uid"] and meta["creationTimestamp"] and meta["generation"] == 1
    assert int(meta["resourceVersion"]) == store.resource_version


def test_generate_name(store: ObjectStore) -> None:
    created = store.create(POD, pod())
    assert created["metadata"]["name"].startswith("gen-") and len(created["metadata"]["name"]) == 9


def test_name_required(store: ObjectStore) -> None:
    obj = pod("a")
    del obj["metadata"]["name"]
    with pytest.raises(InvalidError):
        store.create(POD, obj)


def test_duplicate_create(store: ObjectStore) -> None:
    store.create(POD, pod("a"))
    with pytest.raises(AlreadyExistsError):
        store.create(POD, pod("a"))


def test_stale_update_conflicts_and_keeps_newer_write(store: ObjectStore) -> None:
    first = store.create(POD, pod("a"))
    newer = dict(first, spec={"x": 2})
    store.update(POD, newer)
    with pytest.raises(ConflictError):
        store.update(POD, dict(first, spec={"x": 3}))
    assert store.get(POD, "default", "a")["spec"] == {"x": 2}


def test_generation_bumps_only_on_spec_change(store: ObjectStore) -> None:
    obj = store.create(POD, pod("a"))
    obj["status"] = {"phase": "Running"}
    obj = store.update(POD, obj)
    assert obj["metadata"]["generation"] == 1
    obj["spec"] = {"x": 5}
    assert store.update(POD, obj)["metadata"]["generation"] == 2


def test_label_selector_list(store: ObjectStore) -> None:
    store.create(POD, pod("a", app="web"))
    store.create(POD, pod("b", app="db"))
    items, _ = store.list(POD, "default", parse_selector("app=web"))
    assert [i["metadata"]["name"] for i in items] == ["a"]


def test_cascading_delete(store: ObjectStore) -> None:
    owner = store.create(POD, pod("owner"))
    ref = {"apiVersion": "v1", "kind": "Pod", "name": "owner", "uid": owner["metadata"]["uid"]}
    child = pod("child")
    child["metadata"]["ownerReferences"] = [ref]
    child = store.create(POD, child)
    grandchild = pod("grandchild")
    grandchild["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "Pod", "name": "child", "uid": child["metadata"]["uid"]}
    ]
    store.create(POD, grandchild)
    store.create(POD, pod("bystander"))
    store.delete(POD, "default", "owner")
    items, _ = store.list(POD)
    assert [i["metadata"]["name"] for i in items] == ["bystander"]


def test_finalizers_delay_deletion(store: ObjectStore) -> None:
    obj = pod("f")
    obj["metadata"]["finalizers"] = ["dockyard.dev/cleanup"]
    store.create(POD, obj)
    marked = store.delete(POD, "default", "f")
    assert marked["metadata"]["deletionTimestamp"]
    current = store.get(POD, "default", "f")
    current["metadata"]["finalizers"] = []
    store.update(POD, current)
    with pytest.raises(NotFoundError):
        store.get(POD, "default", "f")


def test_watch_replays_from_resource_version(store: ObjectStore) -> None:
    start = store.resource_version
    store.create(POD, pod("a"))
    obj = store.create(POD, pod("b"))
    store.delete(POD, "default", "a")
    watch = store.watch(POD, "default", since_rv=start)
    seen = [(e.type, e.name) for e in (watch.get(1), watch.get(1), watch.get(1))]
    assert seen == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]
    store.update(POD, obj)
    live = watch.get(1)
    assert live is not None and (live.type, live.name) == ("MODIFIED", "b")
    watch.close()


def test_watch_without_version_lists_existing_first(store: ObjectStore) -> None:
    store.create(POD, pod("a"))
    watch = store.watch(POD)
    first = watch.get(1)
    assert first is not None and (first.type, first.name) == ("ADDED", "a")
    watch.close()
    assert watch.get(0.01) is None


def test_trimmed_log_is_gone(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path / "s.db", event_retention=10)
    for i in range(1100):
        store.create(POD, pod(f"p{i}"))
    with pytest.raises(GoneError):
        store.watch(POD, since_rv=5)


def test_state_survives_reopen(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path / "s.db")
    store.create(POD, pod("a"))
    rv = store.resource_version
    store.close()
    again = ObjectStore(tmp_path / "s.db")
    assert again.get(POD, "default", "a")["metadata"]["name"] == "a"
    assert again.resource_version == rv
    assert int(again.create(POD, pod("b"))["metadata"]["resourceVersion"]) == rv + 1


def _writer(path: str, acked: Any) -> None:
    store = ObjectStore(path)
    i = 0
    while True:
        store.create(POD, pod(f"w{i}"))
        acked.value = i + 1  # acknowledged only after the commit returned
        i += 1


def test_sigkill_loses_no_acknowledged_write(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    acked = ctx.Value("i", 0)
    proc = ctx.Process(target=_writer, args=(str(tmp_path / "s.db"), acked))
    proc.start()
    while acked.value < 300:
        pass
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    acknowledged = acked.value
    store = ObjectStore(tmp_path / "s.db")
    names = {o["metadata"]["name"] for o in store.list(POD)[0]}
    assert all(f"w{i}" in names for i in range(acknowledged))
