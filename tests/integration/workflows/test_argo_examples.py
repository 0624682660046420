"""Argo's own examples (the developer set in shared/data/argo-examples) end in the phase
their manifest expects, run on a real control plane with sandboxed Pods.

Driven by manifest.csv, not a glob. All rows are submitted at once (the engine runs them
concurrently), then each row is a test of its own.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "data" / "argo-examples"
if not EXAMPLES.exists():
    EXAMPLES = Path("/work/shared/data/argo-examples")
SUPPORT = (
    ("workflow-template/templates.yaml", "/api/v1/workflow-templates/default"),
    ("cluster-workflow-template/clustertemplates.yaml", "/api/v1/cluster-workflow-templates"),
)
TIMEOUT = 90.0


def manifest() -> list[dict[str, str]]:
    path = EXAMPLES / "manifest.csv"
    if not path.exists():
        return []
    with path.open() as handle:
        return list(csv.DictReader(handle))


ROWS = manifest()


@pytest.fixture(scope="module")
def results(http: httpx.Client) -> dict[str, dict[str, Any]]:
    """Submit every row, then poll until all finished; keep each one's final status
    (some delete themselves through ttlStrategy soon after finishing)."""
    for support, url in SUPPORT:
        for doc in yaml.safe_load_all((EXAMPLES / "examples" / support).read_text()):
            response = http.post(url, json={"template": doc})
            assert response.status_code == 200, response.text
    names: dict[str, str] = {}
    for row in ROWS:
        workflow = yaml.safe_load((EXAMPLES / "examples" / row["file"]).read_text())
        response = http.post("/api/v1/workflows/default", json={"workflow": workflow})
        assert response.status_code == 200, f"{row['file']}: {response.text}"
        names[row["file"]] = response.json()["metadata"]["name"]
    statuses: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + TIMEOUT
    while len(statuses) < len(names) and time.monotonic() < deadline:
        listing = http.get("/api/v1/workflows/default").json()
        by_name = {w["metadata"]["name"]: w.get("status") or {} for w in listing["items"]}
        for file, name in names.items():
            status = by_name.get(name) or {}
            if file not in statuses and status.get("finishedAt"):
                statuses[file] = status
        time.sleep(0.2)
    return statuses


@pytest.mark.skipif(not ROWS, reason="argo-examples data set not present")
@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_example_reaches_expected_phase(
    results: dict[str, dict[str, Any]], row: dict[str, str]
) -> None:
    status = results.get(row["file"])
    assert status is not None, f"{row['file']} did not finish within {TIMEOUT}s"
    failing = {
        n["displayName"]: (n["phase"], n.get("message"))
        for n in status.get("nodes", {}).values()
        if n["phase"] in ("Failed", "Error")
    }
    assert status["phase"] == row["expected_phase"], (status.get("message"), failing)
