"""The sandbox runtime's control-plane plumbing without sandboxes: the cgroup joiner
thread, state-directory removal and the daemon client's line reading."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path

import pytest

from dockyard.node.sandbox.isolation import OpenProcs
from dockyard.sandbox.runtime import DaemonClient, DaemonError, remove_state_dir
from dockyard.sandbox.runtime._joiner import Joiner


def test_joiner_writes_the_pid_to_every_file_and_closes_them(tmp_path: Path) -> None:
    files = [tmp_path / "memory", tmp_path / "pids"]
    for path in files:
        path.write_text("")
    fds_before = len(os.listdir("/proc/self/fd"))

    async def scenario() -> None:
        joiner = Joiner()
        try:
            await joiner.join(OpenProcs(files), 4242)
        finally:
            joiner.close()

    asyncio.run(scenario())
    assert [p.read_text() for p in files] == ["4242", "4242"]
    assert len(os.listdir("/proc/self/fd")) == fds_before


def test_joiner_reports_a_failed_write() -> None:
    async def scenario() -> None:
        joiner = Joiner()
        try:
            await joiner.join(OpenProcs([Path("/dev/full")]), 1)
        finally:
            joiner.close()

    with pytest.raises(OSError):
        asyncio.run(scenario())


def test_remove_state_dir_removes_the_usual_layout_and_odd_entries(tmp_path: Path) -> None:
    state = tmp_path / "box"
    (state / "run").mkdir(parents=True)
    (state / "box.json").write_text("{}")
    (state / "run" / "d.sock").write_text("")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    (state / "run" / "link").symlink_to(outside)
    (state / "run" / "made-inside").mkdir()  # a directory the sandbox made
    remove_state_dir(state)
    assert not state.exists()
    assert (outside / "keep").read_text() == "x"  # links are removed, never followed
    remove_state_dir(state)  # gone already: nothing to do


def test_daemon_client_reads_split_and_joined_lines(tmp_path: Path) -> None:
    path = str(tmp_path / "d.sock")

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b'{"n": 1}\n{"n"')  # one whole message and the start of the next
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b': 2}\n{"n": 3, "final": true}\n')
        await writer.drain()
        writer.close()

    async def scenario() -> list[dict[str, object]]:
        server = await asyncio.start_unix_server(serve, path)
        try:
            return [m async for m in DaemonClient(path).stream("exec")]
        finally:
            server.close()

    assert [m["n"] for m in asyncio.run(scenario())] == [1, 2, 3]


def test_daemon_client_reports_a_closed_connection_and_a_missing_daemon(tmp_path: Path) -> None:
    path = str(tmp_path / "d.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()

    async def scenario() -> None:
        task = asyncio.ensure_future(DaemonClient(path).call("ping"))
        loop = asyncio.get_running_loop()
        conn, _ = await loop.sock_accept(listener)
        assert await loop.sock_recv(conn, 100) == b'{"op": "ping"}\n'
        conn.close()  # no answer at all
        with pytest.raises(DaemonError, match="closed the connection"):
            await task
        with pytest.raises(DaemonError) as missing:
            await DaemonClient(tmp_path / "none.sock").call("ping")
        assert missing.value.code == "unavailable"

    listener.setblocking(False)
    try:
        asyncio.run(scenario())
    finally:
        listener.close()


def test_the_zygote_and_the_nursery_agree_on_where_things_are() -> None:
    """zygote.py runs inside the nursery and cannot import Dockyard: its paths are written
    again there and must match what the nursery binds."""
    import ast

    from dockyard.sandbox.runtime import _nursery
    from dockyard.sandbox.runtime._box import ZYGOTE_SOURCE

    found: dict[str, object] = {}
    for node in ast.parse(ZYGOTE_SOURCE.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            with contextlib.suppress(ValueError):
                found[node.targets[0].id] = ast.literal_eval(node.value)
    assert found["VOLUMES"] == _nursery.VOLUMES
    assert found["ARCHIVES"] == _nursery.ARCHIVES
    assert found["MOUNT_TOPS"] == tuple(top.encode() for top in _nursery.MOUNT_TOPS)
