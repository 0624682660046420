"""Snapshots and forks through the unmodified E2B SDKs against a real control plane:
``create_snapshot`` (full and filesystem-only), ``Sandbox.create(snapshot)`` by id and by
name, ``list_snapshots``, ``delete_snapshot`` and ``fork``; tenancy and bad input over
plain HTTP; and a snapshot that outlives a restart of the sandbox service."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import subprocess
from pathlib import Path

import httpx
import pytest
from e2b import Sandbox as E2BSandbox
from e2b import SandboxException
from e2b_code_interpreter import AsyncSandbox, Sandbox
from tests.integration.sandbox.conftest import run_in_fresh_root, running_service

from dockyard.api.errors import NotFoundError
from dockyard.sandbox import Record, SandboxQuotaExceeded, SandboxUnavailable, extension
from dockyard.sandbox._kinds import NAMESPACE, SANDBOX

pytestmark = pytest.mark.usefixtures("e2b_env")


def test_snapshot_then_start_new_sandboxes_from_it(e2b_http: httpx.Client) -> None:
    source = Sandbox.create(timeout=120)
    started: list[Sandbox] = []
    try:
        source.run_code("x = 41\nwords = ['kept']")
        source.files.write("work/notes.txt", "before the snapshot")
        info = source.create_snapshot(name="notes-snap")
        assert info.names == ["notes-snap"]
        # The source goes on running with its state.
        assert source.run_code("x").text == "41"
        source.files.write("work/notes.txt", "after the snapshot")

        for ref in (info.snapshot_id, "notes-snap", "notes-snap:latest"):
            copy = Sandbox.create(ref, timeout=60)
            started.append(copy)
            assert copy.sandbox_id != source.sandbox_id
            assert copy.run_code("x + 1, words").text == "(42, ['kept'])"
            assert copy.files.read("work/notes.txt") == "before the snapshot"
        # Copies are independent of each other and of the source.
        started[0].files.write("work/notes.txt", "changed in a copy")
        assert started[1].files.read("work/notes.txt") == "before the snapshot"
        assert source.files.read("work/notes.txt") == "after the snapshot"

        listed = source.list_snapshots().next_items()
        assert [s.snapshot_id for s in listed] == [info.snapshot_id]
        everything = [s.snapshot_id for s in E2BSandbox.list_snapshots().next_items()]
        assert info.snapshot_id in everything

        # Snapshotting under the same name gives the snapshot new contents, same id.
        again = source.create_snapshot(name="notes-snap")
        assert again.snapshot_id == info.snapshot_id
        newer = Sandbox.create("notes-snap", timeout=60)
        started.append(newer)
        assert newer.files.read("work/notes.txt") == "after the snapshot"

        assert E2BSandbox.delete_snapshot(info.snapshot_id) is True
        assert E2BSandbox.delete_snapshot(info.snapshot_id) is False
        with pytest.raises(SandboxException, match="404"):
            Sandbox.create(info.snapshot_id, timeout=60)
        # Sandboxes started from it keep running.
        assert started[1].run_code("x").text == "41"
    finally:
        for sandbox in (*started, source):
            sandbox.kill()


def test_filesystem_snapshot_keeps_files_but_not_memory(e2b_http: httpx.Client) -> None:
    source = Sandbox.create(timeout=120)
    copy = None
    try:
        source.run_code("x = 1")
        source.files.write("file.txt", "on disk")
        info = source.create_snapshot(mode="filesystem")
        assert info.names == []
        copy = Sandbox.create(info.snapshot_id, timeout=60)
        assert copy.files.read("file.txt") == "on disk"
        missing = copy.run_code("x")
        assert missing.error is not None and missing.error.name == "NameError"
        E2BSandbox.delete_snapshot(info.snapshot_id)
    finally:
        source.kill()
        if copy is not None:
            copy.kill()


def test_fork_starts_independent_copies(e2b_http: httpx.Client) -> None:
    source = Sandbox.create(timeout=120, metadata={"team": "a"})
    forks: list[Sandbox] = []
    try:
        source.run_code("counter = 10")
        source.files.write("state.txt", "forked")
        source.pause()
        results = Sandbox.fork(source.sandbox_id, count=2, timeout=60)
        assert all(isinstance(r, Sandbox) for r in results), results
        forks = [r for r in results if isinstance(r, Sandbox)]
        assert len({f.sandbox_id for f in forks} | {source.sandbox_id}) == 3
        # The paused source stays paused; each fork runs with the source's state.
        assert e2b_http.get(f"/sandboxes/{source.sandbox_id}").json()["state"] == "paused"
        for i, fork in enumerate(forks):
            assert fork.run_code(f"counter += {i + 1}\ncounter").text == str(11 + i)
            assert fork.files.read("state.txt") == "forked"
            assert e2b_http.get(f"/sandboxes/{fork.sandbox_id}").json()["metadata"] == {"team": "a"}
        forks[0].files.write("state.txt", "only in the first fork")
        assert forks[1].files.read("state.txt") == "forked"
        resumed = Sandbox.connect(source.sandbox_id)
        assert resumed.run_code("counter").text == "10"
        # The saved copy a fork starts from is not kept as a snapshot.
        assert resumed.list_snapshots().next_items() == []
    finally:
        for sandbox in (*forks, source):
            sandbox.kill()


async def test_async_sdk_snapshot_and_fork(e2b_http: httpx.Client) -> None:
    source = await AsyncSandbox.create(timeout=120)
    made: list[AsyncSandbox] = []
    try:
        await source.run_code("y = 'async'")
        info = await source.create_snapshot()
        made.append(await AsyncSandbox.create(info.snapshot_id, timeout=60))
        forked = await source.fork()
        made.extend(f for f in forked if isinstance(f, AsyncSandbox))
        assert len(made) == 2, forked
        for sandbox in made:
            assert (await sandbox.run_code("y")).text == "'async'"
        assert await AsyncSandbox.delete_snapshot(info.snapshot_id) is True
    finally:
        for sandbox in (*made, source):
            await sandbox.kill()


def test_tenancy_and_bad_input(e2b_http: httpx.Client, other_key: str) -> None:
    source = Sandbox.create(timeout=60)
    try:
        made = e2b_http.post(f"/sandboxes/{source.sandbox_id}/snapshots", json={"name": "t1"})
        assert made.status_code == 201, made.text
        snapshot_id = made.json()["snapshotID"]
        with httpx.Client(
            base_url=str(e2b_http.base_url), headers={"X-API-Key": other_key}, timeout=30
        ) as other:
            assert other.get("/snapshots").json() == []
            assert other.delete(f"/templates/{snapshot_id}").status_code == 404
            created = other.post("/sandboxes", json={"templateID": snapshot_id})
            assert created.status_code == 404, created.text
            stolen = other.post(f"/sandboxes/{source.sandbox_id}/snapshots", json={})
            assert stolen.status_code == 404
        for body, field in (
            ({"name": "Not Valid!"}, "name"),
            ({"name": 7}, "name"),
            ({"memory": "yes"}, "memory"),
        ):
            reply = e2b_http.post(f"/sandboxes/{source.sandbox_id}/snapshots", json=body)
            assert reply.status_code == 400 and field in reply.json()["message"], reply.text
        for body, field in (({"count": 0}, "count"), ({"count": "2"}, "count")):
            reply = e2b_http.post(f"/sandboxes/{source.sandbox_id}/fork", json=body)
            assert reply.status_code == 400 and field in reply.json()["message"], reply.text
        reply = e2b_http.get("/snapshots", params={"limit": "0"})
        assert reply.status_code == 400 and "limit" in reply.json()["message"]
        assert extension.service is not None
        extension.service.max_snapshots = 1  # the tenant holds one already
        try:
            reply = e2b_http.post(f"/sandboxes/{source.sandbox_id}/snapshots", json={})
            assert reply.status_code == 429 and "1 snapshots" in reply.json()["message"]
        finally:
            extension.service.max_snapshots = 100
        # A refused request lost nothing.
        kept = e2b_http.get("/snapshots", params={"sandboxID": source.sandbox_id}).json()
        assert [s["snapshotID"] for s in kept] == [snapshot_id]
        assert e2b_http.delete(f"/templates/{snapshot_id}").status_code == 204
    finally:
        source.kill()


def test_listing_pages(e2b_http: httpx.Client) -> None:
    source = Sandbox.create(timeout=60)
    try:
        ids = [source.create_snapshot(name=f"page-{i}").snapshot_id for i in range(3)]
        paginator = E2BSandbox.list_snapshots(sandbox_id=source.sandbox_id, limit=2)
        pages = []
        while paginator.has_next:
            pages.append([s.snapshot_id for s in paginator.next_items()])
        assert pages == [ids[:2], ids[2:]]
        named = E2BSandbox.list_snapshots(name="page-1").next_items()
        assert [s.snapshot_id for s in named] == [ids[1]]
        for snapshot_id in ids:
            E2BSandbox.delete_snapshot(snapshot_id)
    finally:
        source.kill()


async def _run(record: Record, command: str) -> str:
    """`command`'s standard output in the sandbox (through its daemon)."""
    out = b""
    async for message in record.client.stream("exec", cmd="/bin/sh", args=["-c", command]):
        if "stdout" in message:
            out += base64.b64decode(message["stdout"])
    return out.decode()


def test_fork_of_a_paused_sandbox_leaves_it_frozen() -> None:
    async def scenario(root: Path) -> None:
        async with running_service(root) as service:
            record = await service.create("acme", "base", timeout_seconds=60)
            await service.pause("acme", record.sandbox_id)
            assert record.box is not None and record.box.frozen()
            # Another tenant's snapshot is on disk beside the fork's archive.
            theirs = await service.create("globex", "base", timeout_seconds=60)
            await theirs.client.write_file("/home/user/secret.txt", b"globex only")
            saved = await service.snapshot("globex", theirs.sandbox_id)
            (fork,) = await service.fork("acme", record.sandbox_id)
            assert isinstance(fork, Record) and fork.phase == "Running"
            assert fork.box is not None and not fork.box.frozen()
            assert record.phase == "Paused" and record.box.frozen()
            assert list(service.snapshots.directory.iterdir()) == [service.snapshots.archive(saved)]
            # Forked by the nursery, which sees every archive: the fork sees none of them.
            assert service.nursery is not None and service.nursery.cgroups.owns(fork.box.cgroup)
            listing = await _run(fork, "ls -A /.dockyard/saved /.dockyard/hibernated")
            assert listing == "/.dockyard/hibernated:\n\n/.dockyard/saved:\n", listing
            peek = await _run(fork, f"cat /.dockyard/saved/{saved.snapshot_id}.tar 2>&1; true")
            assert "globex only" not in peek and "No such file" in peek, peek

    run_in_fresh_root(scenario)


def test_snapshots_per_tenant_are_capped() -> None:
    async def scenario(root: Path) -> None:
        async with running_service(root, max_snapshots=2) as service:
            record = await service.create("acme", "base", timeout_seconds=60)
            await service.snapshot("acme", record.sandbox_id, name="one")
            await service.snapshot("acme", record.sandbox_id)
            with pytest.raises(SandboxQuotaExceeded, match="2 snapshots"):
                await service.snapshot("acme", record.sandbox_id)
            # New contents for a name it holds take no new place; other tenants are apart.
            await service.snapshot("acme", record.sandbox_id, name="one")
            theirs = await service.create("globex", "base", timeout_seconds=60)
            await service.snapshot("globex", theirs.sandbox_id)
            assert service.delete_snapshot("acme", "one")
            await service.snapshot("acme", record.sandbox_id)
            assert len(service.list_snapshots("acme")) == 2

    run_in_fresh_root(scenario)


def test_a_full_disk_fails_the_copy_and_keeps_nothing_half_written() -> None:
    async def scenario(root: Path) -> None:
        async with running_service(root) as service:
            small = (service.snapshots.directory, service.snapshots_dir)
            for directory in small:
                subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs",
                                str(directory)], check=True)  # fmt: skip
            try:
                record = await service.create("acme", "base", timeout_seconds=60)
                await record.client.write_file("/home/user/big", os.urandom(3 << 20))
                with pytest.raises(SandboxUnavailable, match="No space left"):
                    await service.snapshot("acme", record.sandbox_id, name="big")
                assert service.list_snapshots("acme") == []
                # A paused sandbox whose hibernation fails stays paused, and frozen.
                await service.pause("acme", record.sandbox_id)
                with pytest.raises(SandboxUnavailable, match="No space left"):
                    await service.hibernate("acme", record.sandbox_id)
                assert record.phase == "Paused"
                assert record.box is not None and record.box.frozen()
                assert [list(d.iterdir()) for d in small] == [[], []]
                await service.resume("acme", record.sandbox_id, None)
                assert len(await record.client.read_file("/home/user/big")) == 3 << 20
            finally:
                for directory in small:
                    subprocess.run(["umount", str(directory)], check=True)

    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    run_in_fresh_root(scenario)


def test_a_context_running_code_does_not_hold_up_a_snapshot() -> None:
    async def scenario(root: Path) -> None:
        async with running_service(root) as service:
            record = await service.create("acme", "base", timeout_seconds=60)
            await record.client.write_file("/home/user/kept.txt", b"saved anyway")
            running = record.client.stream("execute", code="import time; time.sleep(30)")
            started = asyncio.ensure_future(anext(running))
            await asyncio.sleep(0.5)  # the execution holds its context
            async with asyncio.timeout(15):
                snapshot = await service.snapshot("acme", record.sandbox_id)
            assert snapshot.unsaved == {"default": ["*"]}
            copy = await service.create("acme", snapshot.snapshot_id)
            assert await copy.client.read_file("/home/user/kept.txt") == b"saved anyway"
            started.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await started

    run_in_fresh_root(scenario)


def test_a_kill_queued_before_a_resume_wins() -> None:
    async def scenario(root: Path) -> None:
        async with running_service(root) as service:
            record = await service.create("acme", "base", timeout_seconds=60)
            await service.pause("acme", record.sandbox_id)
            async with record.lock:  # as a long hibernation or snapshot would
                kill = asyncio.ensure_future(service.kill("acme", record.sandbox_id))
                resume = asyncio.ensure_future(service.resume("acme", record.sandbox_id, None))
                await asyncio.sleep(0.05)
            await kill
            with pytest.raises(NotFoundError):
                await resume
            assert record.sandbox_id not in service.records
            assert service.store.try_get(SANDBOX, NAMESPACE, record.sandbox_id) is None

    run_in_fresh_root(scenario)


def test_snapshot_outlives_a_restart_of_the_service() -> None:
    async def scenario(root: Path) -> None:
        async with running_service(root) as service:
            record = await service.create("acme", "base", timeout_seconds=60)
            await record.client.write_file("/home/user/kept.txt", b"across restarts")
            snapshot = await service.snapshot("acme", record.sandbox_id, name="keep")
            # An archive a crash left behind, without its object.
            (service.snapshots.directory / "sorphan.tar").write_bytes(b"x")
        async with running_service(root) as service:
            assert not (service.snapshots.directory / "sorphan.tar").exists()
            assert [s.snapshot_id for s in service.list_snapshots("acme")] == [snapshot.snapshot_id]
            copy = await service.create("acme", "keep", timeout_seconds=60)
            assert await copy.client.read_file("/home/user/kept.txt") == b"across restarts"
            assert service.delete_snapshot("acme", "keep")
            assert not service.snapshots.archive(snapshot).exists()

    run_in_fresh_root(scenario)
