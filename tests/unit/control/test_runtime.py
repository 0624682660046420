"""The controller runtime: per-key serialization, backoff, owner mapping, resync."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from dockyard.control import Controller, Manager, ObjectKey, Result, WorkQueue
from dockyard.store import ObjectStore

POD = "v1/Pod"
OWNER = "dockyard.dev/v1/Thing"


def obj(kind: str, name: str, owner: dict[str, Any] | None = None) -> dict[str, Any]:
    api_version, _, k = kind.rpartition("/")
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if owner:
        meta["ownerReferences"] = [
            {
                "apiVersion": "dockyard.dev/v1",
                "kind": "Thing",
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "controller": True,
            }
        ]
    return {"apiVersion": api_version, "kind": k, "metadata": meta, "spec": {}}


async def test_workqueue_dedups_and_serializes() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    queue.add("a")
    assert len(queue) == 1
    key = await queue.get()
    queue.add("a")  # while processing: marked dirty, not handed out
    assert len(queue) == 0
    assert key is not None
    queue.done(key)
    assert len(queue) == 1


async def test_workqueue_backoff_grows_and_resets() -> None:
    queue: WorkQueue[str] = WorkQueue(base_delay=0.01, max_delay=0.04)
    delays = [queue.add_rate_limited("k") for _ in range(4)]
    assert delays == [0.01, 0.02, 0.04, 0.04]
    queue.forget("k")
    assert queue.failures("k") == 0


class Recorder:
    def __init__(self, fail_times: int = 0) -> None:
        self.calls: list[ObjectKey] = []
        self.active: set[ObjectKey] = set()
        self.overlap = False
        self.fail_times = fail_times

    async def reconcile(self, key: ObjectKey) -> Result | None:
        if key in self.active:
            self.overlap = True
        self.active.add(key)
        await asyncio.sleep(0.005)
        self.active.discard(key)
        self.calls.append(key)
        if self.fail_times > 0:
            self.fail_times -= 1
            raise RuntimeError("transient")
        return None


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path / "s.db")


async def _until(predicate: Any, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


async def test_existing_objects_reconciled_on_start_and_children_wake_owner(
    store: ObjectStore,
) -> None:
    owner = store.create(OWNER, obj(OWNER, "t1"))
    recorder = Recorder()
    manager = Manager(store)
    manager.add(Controller("things", recorder, OWNER, owns=[POD], workers=4))
    await manager.start()
    try:
        key = ObjectKey(OWNER, "default", "t1")
        await _until(lambda: key in recorder.calls)
        before = len(recorder.calls)
        store.create(POD, obj(POD, "child", owner))
        await _until(lambda: len(recorder.calls) > before)
        for _ in range(20):
            current = store.get(OWNER, "default", "t1")
            store.update(OWNER, current)
        await asyncio.sleep(0.2)
        assert not recorder.overlap
    finally:
        await manager.stop()


async def test_failures_are_retried_with_backoff(store: ObjectStore) -> None:
    store.create(OWNER, obj(OWNER, "t1"))
    recorder = Recorder(fail_times=3)
    manager = Manager(store)
    manager.add(Controller("things", recorder, OWNER, base_delay=0.001))
    await manager.start()
    try:
        await _until(lambda: len(recorder.calls) >= 4)
        assert manager.error_count == 3
    finally:
        await manager.stop()
