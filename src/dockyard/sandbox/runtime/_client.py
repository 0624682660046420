"""`DaemonClient`: the control plane's side of the in-sandbox daemon's socket protocol
(described in `sandboxd.py`): one request per connection, JSON lines back, raw bytes for
file contents and snapshots.

Sandbox feature. Every method raises `DaemonError` with the daemon's error code
(``not_found``, ``invalid``, ``exists``, ``internal``) or ``unavailable`` when the daemon
cannot be reached (sandbox gone, frozen callers time out).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

_LIMIT = 1 << 26  # the longest JSON line accepted (a base64 chunk is far shorter)


class DaemonError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Channel:
    """One request's connection to the daemon: a non-blocking socket driven by the event
    loop's socket calls, with a read buffer (no transport or stream objects: a sandbox's
    requests are short and many)."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._buffer = bytearray()

    async def connect(self, path: str) -> None:
        await self._loop.sock_connect(self._sock, path)

    async def send(self, data: bytes) -> None:
        await self._loop.sock_sendall(self._sock, data)

    async def _fill(self, size: int = 1 << 16) -> bool:
        """Read what has arrived (up to `size` bytes) into the buffer; False at the end of
        the stream."""
        chunk = await self._loop.sock_recv(self._sock, size)
        self._buffer += chunk
        return bool(chunk)

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def readline(self) -> bytes:
        """The next line with its newline; what is left (maybe nothing) at the end of the
        stream. Raises ValueError past `_LIMIT` bytes without a newline."""
        searched = 0
        while (end := self._buffer.find(b"\n", searched)) < 0:
            if len(self._buffer) > _LIMIT:
                raise ValueError("line longer than the limit")
            searched = len(self._buffer)
            if not await self._fill():
                return self._take(len(self._buffer))
        return self._take(end + 1)

    async def readexactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not await self._fill(max(1 << 16, size - len(self._buffer))):
                raise asyncio.IncompleteReadError(self._take(len(self._buffer)), size)
        return self._take(size)

    async def read(self, size: int) -> bytes:
        """Up to `size` bytes (b"" at the end of the stream)."""
        if self._buffer:
            return self._take(size)
        return await self._loop.sock_recv(self._sock, size)

    def close(self) -> None:
        self._sock.close()


class DaemonClient:
    def __init__(self, socket_path: Path | str, connect_timeout: float = 5.0) -> None:
        self.socket_path = str(socket_path)
        self.connect_timeout = connect_timeout

    async def _open(self, request: dict[str, Any]) -> _Channel:
        channel = _Channel(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
        try:
            async with asyncio.timeout(self.connect_timeout):
                await channel.connect(self.socket_path)
            await channel.send((json.dumps(request) + "\n").encode())
        except (OSError, TimeoutError) as exc:
            channel.close()
            raise DaemonError("unavailable", f"sandbox daemon unreachable: {exc}") from exc
        except BaseException:
            channel.close()
            raise
        return channel

    @staticmethod
    async def _line(channel: _Channel) -> dict[str, Any]:
        try:
            line = await channel.readline()
        except (OSError, ValueError) as exc:
            raise DaemonError("unavailable", f"sandbox daemon connection lost: {exc}") from exc
        if not line:
            raise DaemonError("unavailable", "sandbox daemon closed the connection")
        message: dict[str, Any] = json.loads(line)
        error = message.get("error") if message.get("final") else None
        if error:
            raise DaemonError(str(error.get("code")), str(error.get("message")))
        return message

    async def call(self, op: str, **fields: Any) -> dict[str, Any]:
        """A unary request: the daemon's final message."""
        channel = await self._open({"op": op, **fields})
        try:
            while True:
                message = await self._line(channel)
                if message.get("final"):
                    return message
        finally:
            channel.close()

    async def stream(self, op: str, **fields: Any) -> AsyncGenerator[dict[str, Any], None]:
        """A streaming request: every message, the final one last. Closing the iterator
        early leaves the daemon's work running (a command keeps going)."""
        channel = await self._open({"op": op, **fields})
        try:
            while True:
                message = await self._line(channel)
                yield message
                if message.get("final"):
                    return
        finally:
            channel.close()

    async def read_file(self, path: str) -> bytes:
        channel = await self._open({"op": "read", "path": path})
        try:
            header = await self._line(channel)
            return await channel.readexactly(int(header["size"]))
        except asyncio.IncompleteReadError as exc:
            raise DaemonError("unavailable", "file transfer interrupted") from exc
        except OSError as exc:
            raise DaemonError("unavailable", f"file transfer interrupted: {exc}") from exc
        finally:
            channel.close()

    async def write_file(self, path: str, data: bytes) -> dict[str, Any]:
        channel = await self._open({"op": "write", "path": path, "size": len(data)})
        try:
            await channel.send(data)
            return await self._line(channel)
        except ConnectionError as exc:
            raise DaemonError("unavailable", f"file transfer interrupted: {exc}") from exc
        finally:
            channel.close()

    async def snapshot(self, target: Path, limit_bytes: int, memory: bool = True) -> dict[str, Any]:
        """Write the sandbox's snapshot archive to `target` (at most `limit_bytes`); returns
        the header (``unsaved`` names per context). Without `memory` the archive holds the
        home directory only, not the code contexts' globals or the command history."""
        channel = await self._open({"op": "snapshot", "memory": memory})
        try:
            header = await self._line(channel)
            written = 0
            with target.open("wb") as out:
                while chunk := await channel.read(1 << 20):
                    written += len(chunk)
                    if written > limit_bytes:
                        raise DaemonError("invalid", "snapshot larger than the sandbox's quota")
                    out.write(chunk)
            return header
        finally:
            channel.close()
