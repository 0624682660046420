"""Large ``status.nodes`` are stored as ``compressedNodes`` and inflated on every read,
including the read-modify-write of lifecycle verbs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dockyard.store import ObjectStore
from dockyard.workflows import _compressed
from dockyard.workflows._compressed import FIELD, inflate, pack_status, unpack_status
from dockyard.workflows._kinds import WORKFLOW
from dockyard.workflows._lifecycle import resume_workflow


def nodes(count: int) -> dict[str, Any]:
    out = {
        f"wf-{i}": {
            "id": f"wf-{i}",
            "name": f"wf[0].item({i})",
            "type": "Pod",
            "phase": "Succeeded",
        }
        for i in range(count)
    }
    out["wf-gate"] = {"id": "wf-gate", "name": "wf.gate", "type": "Suspend", "phase": "Running"}
    return out


def test_small_status_is_stored_as_is() -> None:
    status = {"phase": "Running", "nodes": nodes(3)}
    assert pack_status(status) is status


def test_large_status_round_trips_through_compressed_nodes() -> None:
    status = {"phase": "Running", "progress": "0/5000", "nodes": nodes(5000)}
    packed = pack_status(status)
    assert "nodes" not in packed and packed["progress"] == "0/5000"
    assert len(packed[FIELD]) < _compressed.COMPRESS_ABOVE / 4
    assert unpack_status(packed) == status


def test_lifecycle_verbs_see_and_keep_compressed_nodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_compressed, "COMPRESS_ABOVE", 1024)
    store = ObjectStore(tmp_path / "state.db")
    store.create(
        WORKFLOW,
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": "wf", "namespace": "default"},
            "spec": {"entrypoint": "main", "suspend": True},
            "status": pack_status({"phase": "Running", "nodes": nodes(50)}),
        },
    )
    returned = resume_workflow(store, "default", "wf", None)
    assert returned["status"]["nodes"]["wf-gate"]["phase"] == "Succeeded"
    stored = store.get(WORKFLOW, "default", "wf")
    assert "nodes" not in stored["status"]
    assert inflate(stored)["status"]["nodes"]["wf-gate"]["message"] == "resumed"
    assert "suspend" not in stored["spec"]
    store.close()
