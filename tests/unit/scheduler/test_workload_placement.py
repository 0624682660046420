"""`DefaultScheduler.place`: workloads that are not Pods (agent sandboxes) go through the
Pod framework for CPU, memory and node eligibility, take no Pod slot, and give their
capacity back on release."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.control import Unplaceable
from dockyard.node.registration import NodeConfig
from dockyard.scheduler.default import DefaultScheduler
from dockyard.store import ObjectStore, StoreEvent, format_time, utc_now


def scheduler_with(tmp_path: Path, *configs: NodeConfig) -> DefaultScheduler:
    store = ObjectStore(tmp_path / "state.db")
    scheduler = DefaultScheduler(store)
    for config in configs:
        node = store.create("v1/Node", config.to_object(format_time(utc_now())))
        scheduler._on_event(StoreEvent("ADDED", "v1/Node", "", node["metadata"]["name"], 1, node))
    return scheduler


def pod(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "x", "command": ["true"]}]}}  # fmt: skip


def test_sandboxes_take_cpu_and_memory_but_no_pod_slot(tmp_path: Path) -> None:
    scheduler = scheduler_with(
        tmp_path, NodeConfig("a", cpu_millis=2000, memory_bytes=1 << 30, max_pods=2)
    )
    for i in range(5):  # more than the node's two Pod slots
        assert scheduler.place(f"sandbox/{i}", 100, 16, {}) == "a"
    with pytest.raises(Unplaceable, match="0/1 nodes are available: 1 insufficient cpu"):
        scheduler.place("sandbox/big", 1600, 16, {})

    store = scheduler.store
    store.create("v1/Pod", pod("p1"))
    decision = scheduler.schedule_one("default", "p1")
    assert decision is not None and decision.node == "a"  # Pod slots are all still free

    scheduler.release("sandbox/0")
    scheduler.release("sandbox/1")
    assert scheduler.place("sandbox/big", 1600, 16, {}) == "a"


def test_node_selector_and_the_reason_when_nothing_fits(tmp_path: Path) -> None:
    scheduler = scheduler_with(
        tmp_path,
        NodeConfig("a", cpu_millis=1000, memory_bytes=1 << 30),
        NodeConfig("b", cpu_millis=1000, memory_bytes=1 << 30, labels={"pool": "gpu"}),
    )
    assert scheduler.place("sandbox/x", 800, 16, {"pool": "gpu"}) == "b"
    with pytest.raises(Unplaceable) as refused:
        scheduler.place("sandbox/y", 800, 16, {"pool": "gpu"})
    assert "1 insufficient cpu" in str(refused.value)
    assert "1 node(s) didn't match node selector" in str(refused.value)
