"""More directory watchers across the host's sandboxes than the kernel's default of 128
inotify instances per user (every sandbox runs as the same user): the sandbox service
raises the limit when it prepares the node."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.integration.sandbox.conftest import run_in_fresh_root, running_service

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
