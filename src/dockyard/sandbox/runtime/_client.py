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
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

_LIMIT = 1 << 26  # the longest JSON line accepted (a base64 chunk is far shorter)


class DaemonError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class DaemonClient:
    def __init__(self, socket_path: Path | str, connect_timeout: float = 5.0) -> None:
        self.socket_path = str(socket_path)
        self.connect_timeout = connect_timeout

    async def _open(
        self, request: dict[str, Any]
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(self.socket_path, limit=_LIMIT),
                self.connect_timeout,
            )
        except (OSError, TimeoutError) as exc:
            raise DaemonError("unavailable", f"sandbox daemon unreachable: {exc}") from exc
        writer.write((json.dumps(request) + "\n").encode())
        return reader, writer

    @staticmethod
    async def _line(reader: asyncio.StreamReader) -> dict[str, Any]:
        try:
            line = await reader.readline()
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
        reader, writer = await self._open({"op": op, **fields})
        try:
            while True:
                message = await self._line(reader)
                if message.get("final"):
                    return message
        finally:
            writer.close()

    async def stream(self, op: str, **fields: Any) -> AsyncGenerator[dict[str, Any], None]:
        """A streaming request: every message, the final one last. Closing the iterator
        early leaves the daemon's work running (a command keeps going)."""
        reader, writer = await self._open({"op": op, **fields})
        try:
            while True:
                message = await self._line(reader)
                yield message
                if message.get("final"):
                    return
        finally:
            writer.close()

    async def read_file(self, path: str) -> bytes:
        reader, writer = await self._open({"op": "read", "path": path})
        try:
            header = await self._line(reader)
            return await reader.readexactly(int(header["size"]))
        except asyncio.IncompleteReadError as exc:
            raise DaemonError("unavailable", "file transfer interrupted") from exc
        finally:
            writer.close()

    async def write_file(self, path: str, data: bytes) -> dict[str, Any]:
        reader, writer = await self._open({"op": "write", "path": path, "size": len(data)})
        try:
            writer.write(data)
            await writer.drain()
            return await self._line(reader)
        except ConnectionError as exc:
            raise DaemonError("unavailable", f"file transfer interrupted: {exc}") from exc
        finally:
            writer.close()

    async def snapshot(self, target: Path, limit_bytes: int) -> dict[str, Any]:
        """Write the sandbox's snapshot archive to `target` (at most `limit_bytes`); returns
        the header (``unsaved`` names per context)."""
        reader, writer = await self._open({"op": "snapshot"})
        try:
            header = await self._line(reader)
            written = 0
            with target.open("wb") as out:
                while chunk := await reader.read(1 << 20):
                    written += len(chunk)
                    if written > limit_bytes:
                        raise DaemonError("invalid", "snapshot larger than the sandbox's quota")
                    out.write(chunk)
            return header
        finally:
            writer.close()
