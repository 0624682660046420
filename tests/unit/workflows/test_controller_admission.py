"""After a restart the controller keeps admitting the workflows that were already running,
also when their node map is stored compressed, before it queues new ones."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from dockyard.control import ObjectKey
from dockyard.store import ObjectStore
from dockyard.workflows import _compressed
from dockyard.workflows._controller import QUEUED_MESSAGE, ControllerConfig, WorkflowReconciler
from dockyard.workflows._kinds import WORKFLOW


def suspended(name: str, created: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": created},
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "suspend": {}}]},
        "status": {"phase": "Running"},
    }


def test_running_workflow_with_compressed_nodes_stays_admitted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_compressed, "COMPRESS_ABOVE", 10)
    store = ObjectStore(tmp_path / "state.db")
    key = ObjectKey(WORKFLOW, "default", "running")
    store.create(WORKFLOW, suspended("running", "2026-01-01T00:00:00Z"))
    before_restart = WorkflowReconciler(store, tmp_path / "files")
    asyncio.run(before_restart.reconcile(key))
    status = store.get(WORKFLOW, "default", "running")["status"]
    assert "nodes" not in status and status[_compressed.FIELD]

    after_restart = WorkflowReconciler(
        store, tmp_path / "files", config=ControllerConfig(parallelism=1)
    )
    store.create(WORKFLOW, suspended("newer", "2026-01-01T00:00:01Z"))
    asyncio.run(after_restart.reconcile(ObjectKey(WORKFLOW, "default", "newer")))
    asyncio.run(after_restart.reconcile(key))

    assert after_restart.stats()["admitted"] == 2
    assert after_restart.stats()["waiting"] == 0
    assert store.get(WORKFLOW, "default", "running")["status"].get("message") != QUEUED_MESSAGE
    store.close()
