"""Watching directories through the unmodified E2B SDKs: the sync SDK polls a watcher
(CreateWatcher / GetWatcherEvents / RemoveWatcher), the async SDK streams WatchDir. A
sandbox's daemon holds one inotify instance however many watchers it serves, and removes
each watch when its last watcher goes."""

from __future__ import annotations

import asyncio
import time

import pytest
from e2b import AsyncSandbox, FilesystemEvent, FilesystemEventType, Sandbox, SandboxException

pytestmark = pytest.mark.usefixtures("e2b_env")


INOTIFY_FDS = "ls -l /proc/1/fd | grep -c inotify || true"
#: Directories the daemon's inotify instance watches now.
INOTIFY_WATCHES = "cat /proc/1/fdinfo/* 2>/dev/null | grep -c '^inotify wd' || true"


def _poll(handle: object, until: set[tuple[str, FilesystemEventType]]) -> set[tuple[str, str]]:
    seen: set[tuple[str, FilesystemEventType]] = set()
    deadline = time.monotonic() + 10
    while not until <= seen and time.monotonic() < deadline:
        seen |= {(e.name, e.type) for e in handle.get_new_events()}  # type: ignore[attr-defined]
        time.sleep(0.05)
    return {(name, kind.value) for name, kind in seen}


def test_a_polled_watcher_sees_changes_below_the_directory() -> None:
    sbx = Sandbox.create(timeout=120)
    try:
        sbx.files.make_dir("project")
        watcher = sbx.files.watch_dir("project", recursive=True)
        also = sbx.files.watch_dir("project")  # the same directory: the same watch
        sbx.files.write("project/a.txt", "one")
        sbx.commands.run("mkdir project/sub && echo two > project/sub/b.txt")
        sbx.commands.run("mv project/a.txt project/c.txt && chmod 600 project/c.txt")
        sbx.commands.run("rm project/sub/b.txt")
        wanted = {
            ("a.txt", FilesystemEventType.CREATE),
            ("a.txt", FilesystemEventType.WRITE),
            ("sub", FilesystemEventType.CREATE),
            ("sub/b.txt", FilesystemEventType.REMOVE),
            ("a.txt", FilesystemEventType.RENAME),
            ("c.txt", FilesystemEventType.CREATE),
            ("c.txt", FilesystemEventType.CHMOD),
        }
        seen = _poll(watcher, wanted)
        assert {(n, k.value) for n, k in wanted} <= seen, seen
        assert {(e.name, e.type.value) for e in also.get_new_events()} >= {
            ("c.txt", "create"),
            ("sub", "create"),
        }
        assert sbx.commands.run(INOTIFY_FDS).stdout.strip() == "1", "one instance for both"
        assert sbx.commands.run(INOTIFY_WATCHES).stdout.strip() == "2"  # project, project/sub
        watcher.stop()
        with pytest.raises(SandboxException):
            watcher.get_new_events()
        assert sbx.commands.run(INOTIFY_WATCHES).stdout.strip() == "1", "project, for also"
        also.stop()
        assert sbx.commands.run(INOTIFY_WATCHES).stdout.strip() == "0", "no watch is left"

        with pytest.raises(SandboxException):
            sbx.files.watch_dir("no-such-directory")
    finally:
        sbx.kill()


def test_a_streamed_watch_delivers_events_as_they_happen() -> None:
    async def scenario() -> tuple[list[tuple[str, str]], str]:
        sbx = await AsyncSandbox.create(timeout=120)
        try:
            events: list[FilesystemEvent] = []
            handle = await sbx.files.watch_dir(".", on_event=events.append, timeout=30)
            await sbx.files.write("streamed.txt", "hello")
            for _ in range(200):
                if any(e.name == "streamed.txt" for e in events):
                    break
                await asyncio.sleep(0.05)
            await handle.stop()
            left = "?"
            for _ in range(100):  # the daemon ends the watch once the stream is closed
                left = (await sbx.commands.run(INOTIFY_WATCHES)).stdout.strip()
                if left == "0":
                    break
                await asyncio.sleep(0.05)
            return [(e.name, e.type.value) for e in events], left
        finally:
            await sbx.kill()

    seen, left = asyncio.run(scenario())
    assert ("streamed.txt", "create") in seen, seen
    assert left == "0", "the daemon still watches after the stream ended"
