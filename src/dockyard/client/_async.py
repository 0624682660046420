"""The asyncio Python SDK: :class:`AsyncClient`.

The same surface as :class:`~dockyard.client.Client`, driving the same flows of
:mod:`dockyard.client._ops` over an :class:`httpx.AsyncClient`; ``watch`` and ``logs`` are
async iterators and every other method is a coroutine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar, cast

import httpx

from dockyard.client._config import Settings, stream_timeout
from dockyard.client._errors import ConnectionLostError, GoneError, error_from_response
from dockyard.client._kinds import KindInfo
from dockyard.client._ops import Call, Flow, KindRef, Operations, transport_error
from dockyard.client._wait import Predicate, WaitTracker, build_condition
from dockyard.client._watch import WatchEvent, decode_line

T = TypeVar("T")
Object = dict[str, Any]


class AsyncClient:
    """An asyncio client of the Dockyard API; see :class:`~dockyard.client.Client` for
    the arguments, defaults and errors, which are identical.

    Use as ``async with AsyncClient() as client:``, or call :meth:`aclose`.
    """

    def __init__(
        self,
        server: str | None = None,
        token: str | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float | httpx.Timeout = 30.0,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        self._settings = Settings.resolve(server, token, data_dir)
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._http = httpx.AsyncClient(
            base_url=self._settings.server,
            headers=self._settings.headers(),
            transport=transport,
            timeout=self._timeout,
            verify=verify,
        )
        self._ops = Operations()
        self._clock: Callable[[], float] = time.monotonic
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    @property
    def server(self) -> str:
        """The base URL this client talks to."""
        return self._settings.server

    # -- lifecycle ---------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the underlying connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- plumbing ----------------------------------------------------------------------

    async def _send(
        self, call: Call, *, stream: bool = False, timeout: httpx.Timeout | None = None
    ) -> httpx.Response:
        headers, content = call.content()
        request = self._http.build_request(
            call.method,
            call.path,
            params=call.params,
            headers=headers,
            content=content,
            timeout=timeout or self._timeout,
        )
        try:
            return await self._http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise transport_error(self.server, exc) from exc

    async def _run(self, flow: Flow[T]) -> T:
        try:
            call = next(flow)
            while True:
                call = flow.send(await self._send(call))
        except StopIteration as stop:
            return cast(T, stop.value)
        finally:
            flow.close()

    @contextlib.asynccontextmanager
    async def _stream(
        self, call: Call, read_timeout: float | None
    ) -> AsyncIterator[httpx.Response]:
        response = await self._send(
            call, stream=True, timeout=stream_timeout(self._timeout, read_timeout)
        )
        try:
            if not response.is_success:
                await response.aread()
                raise error_from_response(response)
            yield response
        finally:
            await response.aclose()

    # -- request/response --------------------------------------------------------------

    async def kinds(self) -> list[KindInfo]:
        """Every kind the server serves (``GET /api/kinds``)."""
        return await self._run(self._ops.kinds())

    async def resolve_kind(self, kind: KindRef) -> KindInfo:
        """The kind a word names (kind, plural, singular, short name, ``plural.group``)."""
        return await self._run(self._ops.resolve(kind))

    async def create(self, obj: Object, namespace: str | None = None) -> Object:
        """Create ``obj``; see :meth:`Client.create`."""
        return await self._run(self._ops.create(obj, namespace))

    async def get(self, kind: KindRef, name: str, namespace: str | None = "default") -> Object:
        """Read one object; see :meth:`Client.get`."""
        return await self._run(self._ops.get(kind, name, namespace))

    async def list(
        self,
        kind: KindRef,
        namespace: str | None = "default",
        label_selector: str | None = None,
        *,
        field_selector: str | None = None,
        limit: int | None = None,
    ) -> Object:
        """List a collection as one list object; see :meth:`Client.list`."""
        return await self._run(
            self._ops.list(
                kind,
                namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                limit=limit,
            )
        )

    async def replace(self, obj: Object) -> Object:
        """Replace the whole object; see :meth:`Client.replace`."""
        return await self._run(self._ops.replace(obj))

    async def patch(
        self, kind: KindRef, name: str, patch: Object, namespace: str | None = "default"
    ) -> Object:
        """Apply a JSON merge patch; see :meth:`Client.patch`."""
        return await self._run(self._ops.patch(kind, name, patch, namespace))

    async def delete(self, kind: KindRef, name: str, namespace: str | None = "default") -> Object:
        """Delete one object; see :meth:`Client.delete`."""
        return await self._run(self._ops.delete(kind, name, namespace))

    async def apply(self, obj: Object, namespace: str | None = None) -> tuple[Object, str]:
        """Create or update ``obj``; see :meth:`Client.apply`."""
        return await self._run(self._ops.apply(obj, namespace))

    async def version(self) -> Object:
        """The server's version document (``GET /version``)."""
        return await self._run(self._ops.version())

    # -- streams -----------------------------------------------------------------------

    async def watch(
        self,
        kind: KindRef,
        namespace: str | None = "default",
        resource_version: str | None = None,
        label_selector: str | None = None,
        name: str | None = None,
        timeout: float | None = None,
    ) -> AsyncGenerator[WatchEvent, None]:
        """Yield changes after ``resource_version``; see :meth:`Client.watch`."""
        call = await self._run(
            self._ops.watch_call(
                kind,
                namespace,
                resource_version=resource_version,
                label_selector=label_selector,
                name=name,
                timeout=timeout,
            )
        )
        deadline = None if timeout is None else self._clock() + timeout
        async with self._stream(call, timeout) as response:
            try:
                async for line in response.aiter_lines():
                    event = decode_line(line)
                    if event is not None:
                        yield event
                    if deadline is not None and self._clock() >= deadline:
                        return
            except httpx.ReadTimeout as exc:
                if timeout is None:
                    raise ConnectionLostError(f"watch stream from {self.server} timed out") from exc
            except httpx.TransportError as exc:
                raise transport_error(self.server, exc) from exc

    async def logs(
        self,
        name: str,
        namespace: str = "default",
        container: str | None = None,
        follow: bool = False,
        tail_lines: int | None = None,
    ) -> AsyncGenerator[str, None]:
        """Yield a Pod's log as text chunks; see :meth:`Client.logs`."""
        call = Operations.logs_call(
            name, namespace, container=container, follow=follow, tail_lines=tail_lines
        )
        read_timeout = None if follow else self._timeout.read
        async with self._stream(call, read_timeout) as response:
            try:
                async for chunk in response.aiter_text():
                    yield chunk
            except httpx.TransportError as exc:
                raise transport_error(self.server, exc) from exc

    async def wait_for(
        self,
        kind: KindRef,
        name: str,
        namespace: str | None = "default",
        predicate: Predicate | None = None,
        *,
        phase: str | None = None,
        condition: str | None = None,
        deleted: bool = False,
        timeout: float = 60.0,
    ) -> Object | None:
        """Wait until the object meets the condition; see :meth:`Client.wait_for`."""
        wanted = build_condition(predicate, phase, condition, deleted)
        info = await self.resolve_kind(kind)
        tracker = WaitTracker(f"{info.display_name}/{name}", name, wanted, timeout, self._clock)
        while True:
            if tracker.needs_list:
                listing = await self.list(info, namespace, field_selector=f"metadata.name={name}")
                if tracker.observe_list(listing):
                    return tracker.result
            tracker.check_deadline()
            events = self.watch(
                info,
                namespace,
                resource_version=tracker.resource_version,
                name=name,
                timeout=tracker.remaining(),
            )
            try:
                async for event in events:
                    if tracker.observe_event(event):
                        return tracker.result
            except GoneError:
                tracker.relist()
                continue
            finally:
                await events.aclose()
            await self._sleep(tracker.watch_ended())
