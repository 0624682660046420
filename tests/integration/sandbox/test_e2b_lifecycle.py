"""E2B's lifecycle options through the unmodified SDK: a sandbox that pauses on timeout
and resumes when traffic reaches it (``auto_resume``), also from hibernation; one that did
not ask stays paused and says so; ``autoResume`` without auto-pause is refused."""

from __future__ import annotations

import time

import httpx
import pytest
from e2b import SandboxException
from e2b_code_interpreter import Sandbox

pytestmark = pytest.mark.usefixtures("e2b_env")

RESUMING = {"on_timeout": "pause", "auto_resume": True}


def _state(e2b_http: httpx.Client, sandbox_id: str) -> str:
    return str(e2b_http.get(f"/sandboxes/{sandbox_id}").json()["state"])


def test_traffic_resumes_a_sandbox_that_paused_on_timeout(e2b_http: httpx.Client) -> None:
    sbx = Sandbox.create(timeout=1, lifecycle=RESUMING)
    try:
        sbx.run_code("kept = 'across the pause'")
        deadline = time.monotonic() + 10
        while _state(e2b_http, sbx.sandbox_id) != "paused" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _state(e2b_http, sbx.sandbox_id) == "paused"
        # The same handle, no connect: the request itself resumes it.
        assert sbx.run_code("kept").text == "'across the pause'"
        assert _state(e2b_http, sbx.sandbox_id) == "running"

        assert e2b_http.post(f"/sandboxes/{sbx.sandbox_id}/hibernate").status_code == 200
        assert sbx.commands.run("echo woken").stdout == "woken\n"
        assert sbx.run_code("kept").text == "'across the pause'"
    finally:
        sbx.kill()


def test_without_auto_resume_a_paused_sandbox_stays_paused(e2b_http: httpx.Client) -> None:
    sbx = Sandbox.create(timeout=60, lifecycle={"on_timeout": "pause"})
    try:
        sbx.pause()
        with pytest.raises(SandboxException, match="paused"):
            sbx.commands.run("true")
        assert _state(e2b_http, sbx.sandbox_id) == "paused"
    finally:
        sbx.kill()


def test_auto_resume_needs_auto_pause(e2b_http: httpx.Client) -> None:
    for body in (
        {"templateID": "base", "autoResume": {"enabled": True}},
        {"templateID": "base", "autoPause": False, "autoResume": {"enabled": True}},
        {"templateID": "base", "autoPause": True, "autoResume": "yes"},
    ):
        reply = e2b_http.post("/sandboxes", json=body)
        assert reply.status_code == 400 and "autoResume" in reply.json()["message"], reply.text
