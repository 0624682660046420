"""Watches: ordered streams of store events delivered to sync or asyncio consumers.

The store calls :meth:`Watch.deliver` after each commit, while still holding its write
lock, so every watch sees events in resourceVersion order. Delivery never blocks the
writer: events go into an unbounded-by-design but capped buffer; a consumer that falls
more than ``max_backlog`` events behind is closed with an ``ERROR``/410 event and must
re-list, exactly as a Kubernetes client does after "too old resource version".
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from dockyard.api.labels import LabelSelector

EventType = Literal["ADDED", "MODIFIED", "DELETED", "ERROR", "BOOKMARK"]


@dataclass(frozen=True)
class StoreEvent:
    type: EventType
    kind_key: str
    namespace: str
    name: str
    rv: int
    object: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        return {"type": self.type, "object": self.object}


@dataclass(frozen=True)
class WatchFilter:
    kind_key: str | None = None
    namespace: str | None = None
    name: str | None = None
    selector: LabelSelector = field(default_factory=LabelSelector)

    def matches(self, event: StoreEvent) -> bool:
        if self.kind_key is not None and event.kind_key != self.kind_key:
            return False
        if self.namespace is not None and event.namespace != self.namespace:
            return False
        if self.name is not None and event.name != self.name:
            return False
        if not self.selector.empty:
            labels = event.object.get("metadata", {}).get("labels")
            return self.selector.matches(labels)
        return True


_CLOSED = object()


class Watch:
    """One subscriber's event stream. Iterate it (sync or async); call :meth:`close`.

    A watch created inside a running event loop is consumed with ``async for``; one
    created elsewhere with a plain ``for`` or :meth:`get`.
    """

    def __init__(
        self,
        filter_: WatchFilter,
        on_close: Callable[[Watch], None],
        max_backlog: int = 200_000,
    ) -> None:
        self.filter = filter_
        self._on_close = on_close
        self._max_backlog = max_backlog
        self._closed = False
        self._pending = 0
        self._lock = threading.Lock()
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._loop_thread = threading.get_ident() if self._loop else None
        self._aqueue: asyncio.Queue[Any] | None = asyncio.Queue() if self._loop else None
        self._squeue: queue.SimpleQueue[Any] | None = None if self._loop else queue.SimpleQueue()

    @property
    def closed(self) -> bool:
        return self._closed

    def deliver(self, event: StoreEvent) -> None:
        """Called by the store after commit; never blocks."""
        if self._closed or not self.filter.matches(event):
            return
        with self._lock:
            self._pending += 1
            overflow = self._pending > self._max_backlog
        if overflow:
            self._push(StoreEvent("ERROR", event.kind_key, "", "", event.rv, _expired_status()))
            self.close()
            return
        self._push(event)

    def _push(self, item: Any) -> None:
        if self._aqueue is not None and self._loop is not None:
            if threading.get_ident() == self._loop_thread:
                self._aqueue.put_nowait(item)
            elif not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._aqueue.put_nowait, item)
        elif self._squeue is not None:
            self._squeue.put(item)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._on_close(self)
        self._push(_CLOSED)

    def _taken(self) -> None:
        with self._lock:
            self._pending -= 1

    # -- sync consumption ----------------------------------------------------------
    def get(self, timeout: float | None = None) -> StoreEvent | None:
        """Next event, or None on timeout or once the watch is closed."""
        if self._squeue is None:
            raise RuntimeError("this watch belongs to an event loop; use 'async for'")
        try:
            item = self._squeue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _CLOSED:
            self._squeue.put(_CLOSED)
            return None
        self._taken()
        return item  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[StoreEvent]:
        while True:
            event = self.get()
            if event is None:
                return
            yield event

    # -- async consumption ---------------------------------------------------------
    async def next(self, timeout: float | None = None) -> StoreEvent | None:
        """Next event, or None on timeout or once the watch is closed."""
        if self._aqueue is None:
            raise RuntimeError("this watch was created outside an event loop; use get()")
        try:
            item = await asyncio.wait_for(self._aqueue.get(), timeout)
        except TimeoutError:
            return None
        if item is _CLOSED:
            self._aqueue.put_nowait(_CLOSED)
            return None
        self._taken()
        return item  # type: ignore[no-any-return]

    async def __aiter__(self) -> AsyncIterator[StoreEvent]:
        while True:
            event = await self.next()
            if event is None:
                return
            yield event


def _expired_status() -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "reason": "Expired",
        "message": "watch fell too far behind; re-list and watch again",
        "code": 410,
    }
