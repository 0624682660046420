"""The node's nursery: sandboxes are forked from it, and when it ends (taking the sandboxes
it forked with it) the next create starts a new one."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.integration.sandbox.conftest import run_in_fresh_root, running_service


async def _scenario(root: Path) -> None:
    async with running_service(root) as service:
        first = await service.create("acme", "base")
        nursery = service.nursery
        assert nursery is not None and first.box is not None
        assert first.box.cgroup.pids(), "the sandbox runs in its own cgroup"

        await asyncio.to_thread(nursery.kill)
        for _ in range(500):  # the kernel ends the nursery's pid namespaces right after
            if not first.box.alive():
                break
            await asyncio.sleep(0.01)
        assert not first.box.alive()

        second = await service.create("acme", "base")
        assert service.nursery is not None and service.nursery is not nursery
        assert second.box is not None and second.box.alive()
        reply = [m async for m in second.client.stream("exec", cmd="/bin/echo", args=["ok"])]
        assert reply[-1]["end"]["exit_code"] == 0
    assert service.nursery is None, "the nursery ends with the last sandbox"
    assert not service.boxes_dir.exists(), "and so does the sandboxes' directory"


def test_a_new_nursery_replaces_one_that_ended() -> None:
    run_in_fresh_root(_scenario)
