"""A small HTTP/1.1 server and pooled client on asyncio streams, standard library only.

Serving layer, shared by the engine emulator (which must run on the bare system Python in a
sandbox) and the gateway (where a thin hand-written proxy keeps added latency low). It speaks
just enough HTTP/1.1 for OpenAI-style traffic: request bodies with ``Content-Length``,
responses with a body or a chunked stream, keep-alive connections.

Contracts:

* A handler receives a :class:`Request` and returns a :class:`Response`; a response with
  ``stream`` set is sent with ``Transfer-Encoding: chunked``, one chunk per yielded bytes.
* A handler that raises gets a 500; a client that disconnects mid-stream closes the stream's
  iterator (``aclose``), so generators can release what they hold in ``finally``.
* :class:`HttpClient` responses must be read to the end (``read`` or iterating ``chunks``) or
  ``close``\\ d; only fully read connections go back to the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


async def serve_until_signalled(
    start: Callable[[], Awaitable[None]],
    stop: Callable[[], Awaitable[None]],
    banner: Callable[[], str],
) -> None:
    """Run a server process's life: await `start`, print `banner()` (called once started,
    so it can name the bound port), wait for SIGTERM or SIGINT, then await `stop`."""
    await start()
    print(banner(), flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await stop()


class HttpError(Exception):
    """A malformed message or a broken connection."""


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> dict[str, str]:
        if "?" not in self.target:
            return {}
        return {k: v[-1] for k, v in parse_qs(self.target.split("?", 1)[1]).items()}

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    stream: AsyncIterator[bytes] | None = None

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> Response:
        return cls(
            status,
            json.dumps(payload, separators=(",", ":")).encode(),
            {"content-type": "application/json"},
        )

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain") -> Response:
        return cls(status, text.encode(), {"content-type": content_type})

    @classmethod
    def error(cls, status: int, message: str, kind: str = "invalid_request_error") -> Response:
        """An OpenAI-shaped error body."""
        return cls.json({"error": {"message": message, "type": kind, "code": status}}, status)


Handler = Callable[[Request], Awaitable[Response]]


def _parse_head(head: bytes) -> tuple[str, list[str], dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    first = lines[0].split(" ")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(f"bad header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    return lines[0], first, headers


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise HttpError("connection closed inside a message head") from None
        return None
    except asyncio.LimitOverrunError:
        raise HttpError("message head too large") from None


async def _read_chunked(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while True:
        size_line = await reader.readline()
        if not size_line:
            raise HttpError("connection closed inside a chunked body")
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            # trailers end with an empty line
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            return
        data = await reader.readexactly(size + 2)
        yield data[:-2]


def _head_bytes(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"]
    lines.extend(f"{k}: {v}" for k, v in headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class HttpServer:
    """Serves ``handler`` on ``host:port`` (port 0 picks a free one; see :attr:`port`)."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=MAX_HEADER_BYTES, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def serve_forever(self) -> None:
        await self.start()
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while await self._serve_one(reader, writer):
                pass
        except (HttpError, ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._connections.discard(task)
            writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await _read_head(reader)
        if head is None:
            return False
        line, first, headers = _parse_head(head)
        if len(first) != 3:
            raise HttpError(f"bad request line {line!r}")
        method, target, version = first
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b"".join([c async for c in _read_chunked(reader)])
        else:
            length = int(headers.get("content-length", "0"))
            if length > MAX_BODY_BYTES:
                writer.write(_head_bytes(413, {"content-length": "0", "connection": "close"}))
                return False
            body = await reader.readexactly(length) if length else b""
        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        try:
            response = await self.handler(Request(method, target, headers, body))
        except Exception as exc:  # a handler bug must not kill the connection loop silently
            response = Response.error(
                500, f"internal error: {type(exc).__name__}: {exc}", "server_error"
            )
        out = dict(response.headers)
        if not keep_alive:
            out["connection"] = "close"
        if response.stream is None:
            out["content-length"] = str(len(response.body))
            writer.write(_head_bytes(response.status, out) + response.body)
            await writer.drain()
            return keep_alive
        out["transfer-encoding"] = "chunked"
        writer.write(_head_bytes(response.status, out))
        stream = response.stream
        try:
            async for chunk in stream:
                if chunk:
                    writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        return keep_alive


# --- client ------------------------------------------------------------------------------


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        self.writer.close()


class ClientResponse:
    """A response whose body is read lazily; see the module contract about reading it."""

    def __init__(
        self,
        status: int,
        headers: dict[str, str],
        conn: _Connection,
        release: Callable[[_Connection, bool], None],
    ) -> None:
        self.status = status
        self.headers = headers
        self._conn: _Connection | None = conn
        self._release = release

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (chunk boundaries as sent for chunked bodies)."""
        conn = self._conn
        if conn is None:
            return
        reusable = False
        try:
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                async for chunk in _read_chunked(conn.reader):
                    yield chunk
                reusable = True
            elif "content-length" in self.headers:
                length = int(self.headers["content-length"])
                if length:
                    yield await conn.reader.readexactly(length)
                reusable = True
            else:
                while data := await conn.reader.read(65536):
                    yield data
            reusable = reusable and self.headers.get("connection", "").lower() != "close"
        finally:
            self._conn = None
            self._release(conn, reusable)

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    async def json(self) -> Any:
        return json.loads(await self.read() or b"null")

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            self._release(conn, False)


class HttpClient:
    """A keep-alive connection pool per ``host:port``; one request per connection at a time."""

    def __init__(self, connect_timeout: float = 2.0, max_idle_per_host: int = 256) -> None:
        self.connect_timeout = connect_timeout
        self.max_idle_per_host = max_idle_per_host
        self._idle: dict[tuple[str, int], list[_Connection]] = {}

    async def request(
        self,
        method: str,
        url: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> ClientResponse:
        """Send a request and return once the response head has arrived.

        Raises ``ConnectionError``/``OSError`` when the server cannot be reached and
        ``asyncio.TimeoutError`` when no response head arrives within ``timeout``.
        A stale pooled connection is retried once on a fresh connection.
        """
        parts = urlsplit(url)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 80
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        head = [f"{method} {target} HTTP/1.1", f"host: {host}:{port}"]
        for name, value in (headers or {}).items():
            head.append(f"{name}: {value}")
        head.append(f"content-length: {len(body)}")
        payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        key = (host, port)
        for attempt in range(2):
            pooled = self._take(key)
            conn = pooled or await self._connect(host, port)
            try:
                conn.writer.write(payload)
                await conn.writer.drain()
                raw = await asyncio.wait_for(_read_head(conn.reader), timeout)
                if raw is None:
                    raise ConnectionResetError("connection closed before a response")
            except (ConnectionError, HttpError):
                conn.close()
                if pooled is not None and attempt == 0:
                    continue  # the server closed an idle connection; a fresh one may work
                raise
            except BaseException:
                conn.close()
                raise
            _, first, resp_headers = _parse_head(raw)
            return ClientResponse(int(first[1]), resp_headers, conn, self._release_to(key))
        raise ConnectionError("unreachable")

    async def get_json(self, url: str, timeout: float = 5.0) -> Any:
        response = await self.request("GET", url, timeout=timeout)
        return await asyncio.wait_for(response.json(), timeout)

    async def post_json(self, url: str, payload: Any, timeout: float | None = None) -> Any:
        response = await self.request(
            "POST",
            url,
            json.dumps(payload).encode(),
            {"content-type": "application/json"},
            timeout=timeout,
        )
        return response.status, await response.json()

    def _take(self, key: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.reader.at_eof() and not conn.writer.is_closing():
                return conn
            conn.close()
        return None

    async def _connect(self, host: str, port: int) -> _Connection:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, limit=MAX_HEADER_BYTES), self.connect_timeout
        )
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Connection(reader, writer)

    def _release_to(self, key: tuple[str, int]) -> Callable[[_Connection, bool], None]:
        def release(conn: _Connection, reusable: bool) -> None:
            idle = self._idle.setdefault(key, [])
            if reusable and len(idle) < self.max_idle_per_host:
                idle.append(conn)
            else:
                conn.close()

        return release

    async def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
