"""A nursery started with its sandboxes' directories elsewhere (by a build that kept them
in the data directory, or while /dev/shm was unavailable) keeps being used after a
restart: its running sandboxes are adopted and new ones are forked into the directory its
mount namespace binds, until it ends."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.sandbox.conftest import run_in_fresh_root

from dockyard.sandbox import SandboxService
from dockyard.sandbox import _service as service_module
from dockyard.store import ObjectStore


def _on_disk(data_dir: Path, name: str, fallback: Path) -> Path:
    fallback.mkdir(parents=True, exist_ok=True)
    fallback.chmod(0o711)
    return fallback


async def _echo(service: SandboxService, sandbox_id: str, text: str) -> int:
    record = service.records[sandbox_id]
    replies = [m async for m in record.client.stream("exec", cmd="/bin/echo", args=[text])]
    return int(replies[-1]["end"]["exit_code"])


def test_a_nursery_from_an_older_layout_is_kept_with_its_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(root: Path) -> None:
        store = ObjectStore(root / "state.db")
        legacy = root / "sandbox" / "boxes"
        with monkeypatch.context() as patch:
            patch.setattr(service_module, "runtime_root", _on_disk)
            old = SandboxService(store, root)
            await old.start()
        assert old.boxes_dir == legacy
        first = await old.create("acme", "base")
        await old.stop()  # created sandboxes, and their nursery, outlive the control plane
        (root / "sandbox" / "nursery" / "boxes-dir").unlink()  # as an older build left it

        new = SandboxService(store, root)
        await new.start()
        try:
            assert new.boxes_dir == legacy
            assert first.sandbox_id in new.records
            assert await _echo(new, first.sandbox_id, "adopted") == 0
            second = await new.create("acme", "base")
            assert second.state_dir.parent == legacy
            assert await _echo(new, second.sandbox_id, "forked") == 0
        finally:
            for record in list(new.records.values()):
                await new.kill("acme", record.sandbox_id)
            await new.stop()
            store.close()

    run_in_fresh_root(scenario)
