"""The controller answers the operator's Pod reads for Pods in flight from what the Pod
events told it; that answer agrees with the stored Pod on phase and node."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from dockyard.control import ObjectKey
from dockyard.store import ObjectStore, StoreEvent
from dockyard.workflows._controller import WorkflowReconciler
from dockyard.workflows._kinds import WORKFLOW

POD = "v1/Pod"


def test_in_flight_pod_read_follows_binding_and_phase(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path / "state.db")
    store.create(
        WORKFLOW,
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": "one", "namespace": "default"},
            "spec": {
                "entrypoint": "main",
                "templates": [
                    {"name": "main", "container": {"image": "busybox", "command": ["true"]}}
                ],
            },
            "status": {"phase": "Running"},
        },
    )
    reconciler = WorkflowReconciler(store, tmp_path / "files")
    asyncio.run(reconciler.reconcile(ObjectKey(WORKFLOW, "default", "one")))
    (pod,), _ = store.list(POD, "default")
    name = pod["metadata"]["name"]

    def changed(edit: dict[str, dict[str, str]]) -> bool:
        def apply(obj: dict[str, Any]) -> None:
            for field, value in edit.items():
                obj.setdefault(field, {}).update(value)

        stored = store.mutate(POD, "default", name, apply)
        event = StoreEvent(
            "MODIFIED", POD, "default", name, int(stored["metadata"]["resourceVersion"]), stored
        )
        return reconciler.pod_event_matters(event)

    def seen() -> tuple[str | None, str | None]:
        read = reconciler.env.get_pod("default", name)
        assert read is not None
        return read["spec"].get("nodeName"), read["status"]["phase"]

    assert seen() == (None, "Pending")
    assert not changed({"spec": {"nodeName": "node-a"}})  # bound: no need to wake it
    assert seen() == ("node-a", "Pending")
    assert changed({"status": {"phase": "Running"}})
    assert seen() == ("node-a", "Running")
    assert changed({"status": {"phase": "Succeeded"}})
    assert reconciler.env.get_pod("default", name) == store.get(POD, "default", name)
    store.close()
