"""The unmodified E2B SDKs (`e2b`, `e2b-code-interpreter`) against a real control plane:
create, run code twice keeping state, run a command, write and read a file, pause,
connect with state and files intact, list, kill; then hibernate and wake."""

from __future__ import annotations

import httpx
import pytest
from e2b import Sandbox as E2BSandbox
from e2b_code_interpreter import Sandbox

pytestmark = pytest.mark.usefixtures("e2b_env")


def test_full_session_with_the_sdks(e2b_http: httpx.Client) -> None:
    sbx = Sandbox.create(timeout=120, metadata={"purpose": "test"})
    try:
        first = sbx.run_code("x = 40\nprint('hello')\nx + 1")
        assert first.error is None, first.error
        assert first.logs.stdout == ["hello\n"]
        assert first.text == "41"
        second = sbx.run_code("x + 2")
        assert second.text == "42"

        result = sbx.commands.run("echo out; echo err >&2; id -u")
        assert result.exit_code == 0
        assert result.stdout == "out\n65534\n"
        assert result.stderr == "err\n"

        sbx.files.write("notes/a.txt", "kept across pause")
        assert sbx.files.read("notes/a.txt") == "kept across pause"
        assert [e.name for e in sbx.files.list("notes")] == ["a.txt"]

        failing = sbx.run_code("1 / 0")
        assert failing.error is not None and failing.error.name == "ZeroDivisionError"

        sbx.pause()
        assert e2b_http.get(f"/sandboxes/{sbx.sandbox_id}").json()["state"] == "paused"
        again = Sandbox.connect(sbx.sandbox_id)
        assert again.sandbox_id == sbx.sandbox_id
        assert again.run_code("x").text == "40"
        assert again.files.read("notes/a.txt") == "kept across pause"

        listed = [s.sandbox_id for s in E2BSandbox.list().next_items()]
        assert sbx.sandbox_id in listed
    finally:
        sbx.kill()
    assert e2b_http.get(f"/sandboxes/{sbx.sandbox_id}").status_code == 404


def test_hibernate_and_wake_keep_state(e2b_http: httpx.Client) -> None:
    sbx = Sandbox.create(timeout=120)
    try:
        sbx.run_code("import math\ndata = list(range(1000))\nf = lambda: 1")
        sbx.files.write("kept.txt", "on disk")
        sbx.commands.run("echo history")
        reply = e2b_http.post(f"/sandboxes/{sbx.sandbox_id}/hibernate")
        assert reply.status_code == 200, reply.text
        assert reply.json()["unsaved"] == {"default": ["f"]}
        woken = Sandbox.connect(sbx.sandbox_id)
        assert woken.run_code("sum(data), math.pi > 3").text == "(499500, True)"
        assert woken.files.read("kept.txt") == "on disk"
    finally:
        sbx.kill()


def test_demo_stage(plane: object) -> None:
    from dockyard.sandbox.demo import run_agent_stage

    shown = run_agent_stage(plane.url, plane.cp.data_dir)  # type: ignore[attr-defined]
    assert shown["ok"], shown
