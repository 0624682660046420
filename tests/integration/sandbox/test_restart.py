"""Sandboxes outlive the control plane: SIGKILL `dockyard up`, start it again, and the
unmodified E2B SDK reconnects to a running and a paused sandbox with their interpreter
state and files intact; a hibernated one wakes with its state restored."""

from __future__ import annotations

import json

import httpx
import pytest
from e2b_code_interpreter import Sandbox

from dockyard.sandbox import issue_key
from dockyard.testing import DockyardUp


def test_sandboxes_survive_a_control_plane_sigkill(
    up: DockyardUp, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = issue_key(up.data_dir, "acme")
    up.start()
    url = f"http://127.0.0.1:{up.port}"
    monkeypatch.setenv("E2B_API_URL", url)
    monkeypatch.setenv("E2B_SANDBOX_URL", url)
    monkeypatch.setenv("E2B_API_KEY", key)
    monkeypatch.delenv("E2B_DEBUG", raising=False)
    api = httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30)
    created: list[Sandbox] = []
    try:
        running = Sandbox.create(timeout=300)
        created.append(running)
        running.run_code("x = 'running'")
        running.files.write("state.txt", "of the running one")

        paused = Sandbox.create(timeout=300)
        created.append(paused)
        paused.run_code("y = 'paused'")
        paused.files.write("state.txt", "of the paused one")
        paused.pause()

        hibernated = Sandbox.create(timeout=300)
        created.append(hibernated)
        hibernated.run_code("z = 'hibernated'")
        hibernated.files.write("state.txt", "of the hibernated one")
        assert api.post(f"/sandboxes/{hibernated.sandbox_id}/hibernate").status_code == 200

        nursery = up.data_dir / "sandbox" / "nursery" / "box.json"
        before = json.loads(nursery.read_text())["pid"]
        up.kill()
        up.start()
        # The nursery the sandboxes were forked from is adopted, not replaced.
        assert json.loads(nursery.read_text())["pid"] == before

        states = {s["sandboxID"]: s["state"] for s in api.get("/v2/sandboxes").json()}
        assert states[running.sandbox_id] == "running"
        assert states[paused.sandbox_id] == "paused"

        again = Sandbox.connect(running.sandbox_id)
        assert again.run_code("x").text == "'running'"
        assert again.files.read("state.txt") == "of the running one"

        resumed = Sandbox.connect(paused.sandbox_id)
        assert resumed.run_code("y").text == "'paused'"
        assert resumed.files.read("state.txt") == "of the paused one"

        woken = Sandbox.connect(hibernated.sandbox_id)
        assert woken.run_code("z").text == "'hibernated'"
        assert woken.files.read("state.txt") == "of the hibernated one"
        assert woken.commands.run("echo after restart").stdout == "after restart\n"

        fresh = Sandbox.create(timeout=60)
        created.append(fresh)
        assert fresh.commands.run("echo forked").stdout == "forked\n"
    finally:
        for sandbox in created:
            api.delete(f"/sandboxes/{sandbox.sandbox_id}")
        api.close()
