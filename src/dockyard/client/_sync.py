"""The blocking Python SDK: :class:`Client`.

Drives the shared flows of :mod:`dockyard.client._ops` over an :class:`httpx.Client`, and
reads watch and log streams line by line. The CLI is built on this class.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import time
from collections.abc import Callable, Generator, Iterator
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


class Client:
    """A blocking client of the Dockyard API. Objects are plain dicts.

    ``server`` defaults to ``$DOCKYARD_SERVER`` then ``http://127.0.0.1:7420``; ``token``
    to ``$DOCKYARD_TOKEN`` then ``<data_dir>/token``; ``data_dir`` to
    ``$DOCKYARD_DATA_DIR`` then ``~/.dockyard``. ``transport`` replaces the network (pass
    an :class:`httpx.MockTransport` in tests). ``timeout`` bounds each non-streaming
    request. Use as a context manager, or call :meth:`close`.

    Every method raises :class:`~dockyard.client.ApiError` subclasses for failures the
    server reports, :class:`~dockyard.client.ServerUnreachableError` when it cannot be
    reached, and :class:`~dockyard.client.UnknownKindError` for a kind word the server
    does not serve.
    """

    def __init__(
        self,
        server: str | None = None,
        token: str | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float | httpx.Timeout = 30.0,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        self._settings = Settings.resolve(server, token, data_dir)
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._http = httpx.Client(
            base_url=self._settings.server,
            headers=self._settings.headers(),
            transport=transport,
            timeout=self._timeout,
            verify=verify,
        )
        self._ops = Operations()
        self._clock: Callable[[], float] = time.monotonic
        self._sleep: Callable[[float], None] = time.sleep

    @property
    def server(self) -> str:
        """The base URL this client talks to."""
        return self._settings.server

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the underlying connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------

    def _send(
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
            return self._http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise transport_error(self.server, exc) from exc

    def _run(self, flow: Flow[T]) -> T:
        try:
            call = next(flow)
            while True:
                call = flow.send(self._send(call))
        except StopIteration as stop:
            return cast(T, stop.value)
        finally:
            flow.close()

    @contextlib.contextmanager
    def _stream(self, call: Call, read_timeout: float | None) -> Iterator[httpx.Response]:
        response = self._send(
            call, stream=True, timeout=stream_timeout(self._timeout, read_timeout)
        )
        try:
            if not response.is_success:
                response.read()
                raise error_from_response(response)
            yield response
        finally:
            response.close()

    # -- request/response --------------------------------------------------------------

    def kinds(self) -> list[KindInfo]:
        """Every kind the server serves (``GET /api/kinds``)."""
        return self._run(self._ops.kinds())

    def resolve_kind(self, kind: KindRef) -> KindInfo:
        """The kind a word names (kind, plural, singular, short name, ``plural.group``)."""
        return self._run(self._ops.resolve(kind))

    def create(self, obj: Object, namespace: str | None = None) -> Object:
        """Create ``obj``; returns the stored object (its generated name included).

        The namespace is the object's own, else ``namespace``, else ``default``.
        """
        return self._run(self._ops.create(obj, namespace))

    def get(self, kind: KindRef, name: str, namespace: str | None = "default") -> Object:
        """Read one object. Raises :class:`~dockyard.client.NotFoundError` when absent."""
        return self._run(self._ops.get(kind, name, namespace))

    def list(
        self,
        kind: KindRef,
        namespace: str | None = "default",
        label_selector: str | None = None,
        *,
        field_selector: str | None = None,
        limit: int | None = None,
    ) -> Object:
        """List a collection (``namespace=None``: every namespace) as one list object.

        Pages of ``limit`` items are fetched until the server has no more; the result's
        ``metadata.resourceVersion`` is where a :meth:`watch` of the same list resumes.
        """
        return self._run(
            self._ops.list(
                kind,
                namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                limit=limit,
            )
        )

    def replace(self, obj: Object) -> Object:
        """Replace the whole object; ``metadata.resourceVersion`` must be the current one
        (:class:`~dockyard.client.ConflictError` otherwise)."""
        return self._run(self._ops.replace(obj))

    def patch(
        self, kind: KindRef, name: str, patch: Object, namespace: str | None = "default"
    ) -> Object:
        """Apply a JSON merge patch (``null`` deletes a key); returns the patched object."""
        return self._run(self._ops.patch(kind, name, patch, namespace))

    def delete(self, kind: KindRef, name: str, namespace: str | None = "default") -> Object:
        """Delete one object; returns it (carrying ``deletionTimestamp`` while finalizing)."""
        return self._run(self._ops.delete(kind, name, namespace))

    def apply(self, obj: Object, namespace: str | None = None) -> tuple[Object, str]:
        """Create ``obj`` or update the existing object to match it.

        Returns ``(object, action)`` with action ``"created"``, ``"configured"`` or
        ``"unchanged"``. The applied manifest is recorded in the annotation
        ``dockyard.io/last-applied-configuration``, so fields removed from it are removed.
        """
        return self._run(self._ops.apply(obj, namespace))

    def version(self) -> Object:
        """The server's version document (``GET /version``)."""
        return self._run(self._ops.version())

    # -- streams -----------------------------------------------------------------------

    def watch(
        self,
        kind: KindRef,
        namespace: str | None = "default",
        resource_version: str | None = None,
        label_selector: str | None = None,
        name: str | None = None,
        timeout: float | None = None,
    ) -> Generator[WatchEvent, None, None]:
        """Yield changes after ``resource_version`` until the server ends the stream or
        ``timeout`` seconds pass (then the iterator simply ends).

        An ``ERROR`` event is raised as its :class:`~dockyard.client.ApiError`
        (:class:`~dockyard.client.GoneError` when the resourceVersion is too old: list
        again and watch from the list's resourceVersion).
        """
        call = self._run(
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
        with self._stream(call, timeout) as response:
            try:
                for line in response.iter_lines():
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

    def logs(
        self,
        name: str,
        namespace: str = "default",
        container: str | None = None,
        follow: bool = False,
        tail_lines: int | None = None,
    ) -> Generator[str, None, None]:
        """Yield a Pod's log as text chunks; with ``follow`` keep yielding until it ends."""
        call = Operations.logs_call(
            name, namespace, container=container, follow=follow, tail_lines=tail_lines
        )
        read_timeout = None if follow else self._timeout.read
        with self._stream(call, read_timeout) as response:
            try:
                yield from response.iter_text()
            except httpx.TransportError as exc:
                raise transport_error(self.server, exc) from exc

    def wait_for(
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
        """Block until the object meets exactly one of: ``predicate(obj)`` (``obj`` is
        ``None`` while absent), ``status.phase == phase``, ``condition`` (``"Ready"`` or
        ``"Ready=False"``), or ``deleted``. Returns the object (``None`` once deleted).

        Raises :class:`~dockyard.client.WaitTimeoutError` after ``timeout`` seconds and
        :class:`~dockyard.client.ConditionUnreachableError` when the object reaches a
        final phase other than ``phase``; both carry the last object seen.
        """
        wanted = build_condition(predicate, phase, condition, deleted)
        info = self.resolve_kind(kind)
        tracker = WaitTracker(f"{info.display_name}/{name}", name, wanted, timeout, self._clock)
        while True:
            if tracker.needs_list:
                listing = self.list(info, namespace, field_selector=f"metadata.name={name}")
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
                for event in events:
                    if tracker.observe_event(event):
                        return tracker.result
            except GoneError:
                tracker.relist()
                continue
            finally:
                events.close()
            self._sleep(tracker.watch_ended())
