"""The live scheduler's line of Pods that fit nowhere: a release retries them in order, one
failed cycle at most, instead of re-running every waiting Pod."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dockyard.node.registration import NodeConfig
from dockyard.scheduler.default import DefaultScheduler
from dockyard.store import ObjectStore, StoreEvent
from dockyard.testing import make_pod

POD = "v1/Pod"


class Harness:
    def __init__(self, tmp_path: Path, max_pods: int) -> None:
        self.store = ObjectStore(tmp_path / "state.db")
        self.scheduler = DefaultScheduler(self.store)
        self.cycles: list[str] = []
        node = NodeConfig("n1", 4000, 8 << 30, max_pods=max_pods).to_object("2026-01-01T00:00:00Z")
        self.feed("ADDED", "v1/Node", self.store.create("v1/Node", node))

    def feed(self, type_: str, kind_key: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        event = StoreEvent(
            type_,
            kind_key,
            meta.get("namespace") or "",
            meta["name"],
            0,
            obj,  # type: ignore[arg-type]
        )
        self.scheduler._on_event(event)

    def add(self, name: str, priority: int = 0, cpu: str | None = None) -> None:
        builder = make_pod(name).priority(priority)
        if cpu is not None:
            builder = builder.cpu(cpu)
        self.feed("ADDED", POD, self.store.create(POD, builder.build()))

    def drain(self) -> None:
        """Run cycles until nothing is queued, recording which Pods were tried."""
        scheduler = self.scheduler
        while scheduler._heap:
            _, _, namespace, name = scheduler._heap.pop(0)
            scheduler._queued.discard((namespace, name))
            self.cycles.append(name)
            scheduler.schedule_one(namespace, name)
            scheduler._heap.sort()

    def finish(self, name: str) -> None:
        def done(pod: dict[str, Any]) -> None:
            pod["status"]["phase"] = "Succeeded"

        self.feed("MODIFIED", POD, self.store.mutate(POD, "default", name, done))

    def node_of(self, name: str) -> str | None:
        node = self.store.get(POD, "default", name)["spec"].get("nodeName")
        return str(node) if node else None


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path, max_pods=2)


def test_a_release_retries_the_first_waiting_pod_not_all_of_them(harness: Harness) -> None:
    for name in ("a", "b", "c", "d", "e"):
        harness.add(name)
    harness.drain()
    assert [harness.node_of(n) for n in "abcde"] == ["n1", "n1", None, None, None]
    condition = harness.store.get(POD, "default", "c")["status"]["conditions"][0]
    assert (condition["type"], condition["status"]) == ("PodScheduled", "False")

    harness.cycles.clear()
    harness.finish("a")
    harness.drain()

    # c binds; d is tried once because c did and fails on the full node; e is not tried.
    assert harness.cycles == ["c", "d"]
    assert [harness.node_of(n) for n in "cde"] == ["n1", None, None]


def test_waiting_pods_keep_their_place_and_priority_goes_first(harness: Harness) -> None:
    for name in ("a", "b", "c", "d"):
        harness.add(name)
    harness.drain()
    harness.add("urgent", priority=10)
    harness.drain()
    assert harness.node_of("urgent") is None

    harness.finish("a")
    harness.drain()
    # urgent goes first; c, tried in vain after it, keeps its place ahead of d.
    assert [harness.node_of(n) for n in ("urgent", "c", "d")] == ["n1", None, None]

    harness.cycles.clear()
    harness.finish("b")
    harness.drain()
    assert harness.cycles == ["c", "d"]
    assert [harness.node_of(n) for n in ("c", "d")] == ["n1", None]


def test_a_released_sandbox_retries_the_first_waiting_pod_not_all_of_them(
    tmp_path: Path,
) -> None:
    harness = Harness(tmp_path, max_pods=10)
    assert harness.scheduler.place("sandbox/one", 4000, 16, {}) == "n1"  # every core
    for name in ("a", "b", "c"):
        harness.add(name, cpu="3")
    harness.drain()
    assert [harness.node_of(n) for n in "abc"] == [None, None, None]

    harness.cycles.clear()
    harness.scheduler.release("sandbox/one")
    harness.drain()

    # As when a Pod ends: a binds, b is tried because a did and fails; c is not tried.
    assert harness.cycles == ["a", "b"]
    assert [harness.node_of(n) for n in "abc"] == ["n1", None, None]


def test_the_periodic_retry_still_tries_every_waiting_pod(harness: Harness) -> None:
    for name in ("a", "b", "c", "d"):
        harness.add(name)
    harness.drain()
    harness.cycles.clear()

    harness.scheduler._requeue_unschedulable()
    harness.drain()

    assert sorted(harness.cycles) == ["c", "d"]
