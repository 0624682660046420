"""More directory watchers across the host's sandboxes than the kernel's default of 128
inotify instances per user (every sandbox runs as the same user): the sandbox service
raises the limit when it prepares the node; and a sandbox that uses up the sandbox
user's budget leaves the host's root its own."""

from __future__ import annotations

import base64
import ctypes
import os
from pathlib import Path

import pytest
from tests.integration.sandbox.conftest import run_in_fresh_root, running_service

from dockyard.sandbox.runtime._limits import KEEP_ENV

LIMIT = Path("/proc/sys/fs/inotify/max_user_instances")
SANDBOXES = 150


def _writable() -> bool:
    return os.geteuid() == 0 and os.access(LIMIT, os.W_OK)


@pytest.mark.skipif(not _writable(), reason="needs root and a writable /proc/sys")
def test_watchers_in_more_sandboxes_than_the_default_limit() -> None:
    original = LIMIT.read_text()
    LIMIT.write_text("128\n")  # the kernel's default, as on a fresh host

    async def scenario(root: Path) -> None:
        async with running_service(root) as service:
            assert int(LIMIT.read_text()) >= 8192
            for _ in range(SANDBOXES):
                record = await service.create("acme", "base", timeout_seconds=60)
                reply = await record.client.call("watch_create", path="/home/user")
                assert reply.get("id"), reply

    try:
        run_in_fresh_root(scenario, timeout=180)
    finally:
        LIMIT.write_text(original)


INSTANCES = (
    'python3 -c "import ctypes; libc = ctypes.CDLL(None); '
    'print(sum(libc.inotify_init1(0) >= 0 for _ in range(100)))"'
)


@pytest.mark.skipif(not _writable(), reason="needs root and a writable /proc/sys")
def test_a_sandbox_using_up_the_budget_leaves_the_hosts_root_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sandboxes' inotify instances count against the sandbox user, not the host's root
    (which runs the control plane and the host's services)."""
    original = LIMIT.read_text()
    monkeypatch.setenv(KEEP_ENV, "1")
    LIMIT.write_text("64\n")

    async def scenario(root: Path) -> None:
        async with running_service(root) as service:
            record = await service.create("acme", "base", timeout_seconds=60)
            made = b""
            async for message in record.client.stream(
                "exec", cmd="/bin/sh", args=["-c", f"{INSTANCES}; sleep 5"]
            ):
                if "stdout" in message:
                    made += base64.b64decode(message["stdout"])
                    break
            assert 0 < int(made) <= 64  # the sandbox user's budget, used up
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(os.O_CLOEXEC)
            assert fd >= 0, os.strerror(ctypes.get_errno())
            os.close(fd)

    try:
        run_in_fresh_root(scenario, timeout=60)
    finally:
        LIMIT.write_text(original)
