"""A template's ``hibernateAfterSeconds``: a sandbox paused (here by its timeout, with
auto-pause) that long is hibernated, releasing its memory, and connecting wakes it with
its files."""

from __future__ import annotations

import time

import httpx
import pytest
from e2b import Sandbox

pytestmark = pytest.mark.usefixtures("e2b_env")

API = "/apis/agents.x-k8s.io/v1alpha1/namespaces/default"
NAPPER = {
    "apiVersion": "agents.x-k8s.io/v1alpha1",
    "kind": "SandboxTemplate",
    "metadata": {"name": "napper", "namespace": "default"},
    "spec": {"autoPause": True, "hibernateAfterSeconds": 1},
}


def phase_of(http: httpx.Client, sandbox_id: str) -> str:
    phase: str = http.get(f"{API}/sandboxes/{sandbox_id}").json()["status"]["phase"]
    return phase


def test_a_paused_sandbox_hibernates_after_a_while(
    http: httpx.Client, e2b_http: httpx.Client
) -> None:
    assert http.post(f"{API}/sandboxtemplates", json=NAPPER).status_code == 201
    created = e2b_http.post("/sandboxes", json={"templateID": "napper", "timeout": 2})
    assert created.status_code == 201, created.text
    sandbox_id = created.json()["sandboxID"]
    try:
        Sandbox.connect(sandbox_id).files.write("kept.txt", "through the nap")
        seen = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            phase = phase_of(http, sandbox_id)
            if not seen or seen[-1] != phase:
                seen.append(phase)
            if phase == "Hibernated":
                break
            time.sleep(0.05)
        assert seen[-2:] == ["Paused", "Hibernated"], seen
        status = http.get(f"{API}/sandboxes/{sandbox_id}").json()["status"]
        assert status["box"] is None and status["node"] is None  # nothing held any more
        woken = Sandbox.connect(sandbox_id)
        assert woken.files.read("kept.txt") == "through the nap"
        assert phase_of(http, sandbox_id) == "Running"
    finally:
        e2b_http.delete(f"/sandboxes/{sandbox_id}")
