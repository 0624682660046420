"""The controller runtime: watch → work queue → reconcile, level-triggered.

How a feature package adds a controller::

    class WorkflowReconciler:
        async def reconcile(self, key: ObjectKey) -> Result | None:
            obj = store.try_get(key.kind_key, key.namespace, key.name)
            ...                                  # read the world, converge it, return
            return Result(requeue_after=5.0)     # or None when nothing is pending

    manager.add(Controller(
        name="workflows",
        reconciler=WorkflowReconciler(),
        for_kind="argoproj.io/v1alpha1/Workflow",
        owns=["v1/Pod"],            # child events wake the owner (via ownerReferences)
    ))

Contract:

* ``reconcile`` receives only a key, never an event: it must read current state and be
  idempotent (level-triggered). The same key never runs twice concurrently.
* Raising an exception requeues the key with per-key exponential backoff; returning
  ``Result(requeue_after=s)`` requeues it after ``s`` seconds; returning None forgets it.
* On start every existing object of ``for_kind`` is reconciled once (the watch begins with
  a synthetic ADDED per object), so work interrupted by a restart is resumed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from dockyard.control.workqueue import WorkQueue
from dockyard.store import CLUSTER_SCOPE, ObjectStore, StoreEvent

log = logging.getLogger("dockyard.control")


@dataclass(frozen=True, order=True)
class ObjectKey:
    kind_key: str
    namespace: str
    name: str

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind_key.rpartition('/')[2]}/{ns}{self.name}"


@dataclass(frozen=True)
class Result:
    requeue_after: float | None = None


class Reconciler(Protocol):
    async def reconcile(self, key: ObjectKey) -> Result | None: ...


EventMapper = Callable[[StoreEvent], Iterable[ObjectKey]]


def own_key(event: StoreEvent) -> Iterable[ObjectKey]:
    """Map an event to the key of the object it is about."""
    return [ObjectKey(event.kind_key, event.namespace, event.name)]


def owner_mapper(owner_kind_key: str) -> EventMapper:
    """Map a child's event to its controlling owners of ``owner_kind_key``."""
    api_version, _, kind = owner_kind_key.rpartition("/")

    def mapper(event: StoreEvent) -> Iterable[ObjectKey]:
        refs = event.object.get("metadata", {}).get("ownerReferences") or []
        return [
            ObjectKey(owner_kind_key, event.namespace, ref["name"])
            for ref in refs
            if ref.get("kind") == kind and ref.get("apiVersion") == api_version
        ]

    return mapper


@dataclass(frozen=True)
class WatchSource:
    """A kind to watch and how its events map to keys of the controller's kind."""

    kind_key: str
    mapper: EventMapper = own_key
    namespace: str | None = None
    event_filter: Callable[[StoreEvent], bool] | None = None


@dataclass
class Controller:
    name: str
    reconciler: Reconciler
    for_kind: str
    owns: Sequence[str] = ()
    watches: Sequence[WatchSource] = ()
    workers: int = 1
    base_delay: float = 0.005
    max_delay: float = 30.0
    event_filter: Callable[[StoreEvent], bool] | None = None
    queue: WorkQueue[ObjectKey] = field(init=False)

    def __post_init__(self) -> None:
        self.queue = WorkQueue(self.base_delay, self.max_delay)

    def sources(self) -> list[WatchSource]:
        primary = WatchSource(self.for_kind, own_key, event_filter=self.event_filter)
        owned = [WatchSource(kind, owner_mapper(self.for_kind)) for kind in self.owns]
        return [primary, *owned, *self.watches]

    def enqueue(self, key: ObjectKey) -> None:
        self.queue.add(key)


class Manager:
    """Runs controllers against one store inside the current event loop."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.controllers: list[Controller] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.reconcile_count = 0
        self.error_count = 0

    def add(self, controller: Controller) -> None:
        self.controllers.append(controller)

    async def start(self) -> None:
        for controller in self.controllers:
            for source in controller.sources():
                self._tasks.append(
                    asyncio.create_task(
                        self._pump(controller, source), name=f"watch:{controller.name}"
                    )
                )
            for index in range(controller.workers):
                self._tasks.append(
                    asyncio.create_task(
                        self._work(controller), name=f"worker:{controller.name}:{index}"
                    )
                )

    async def stop(self) -> None:
        for controller in self.controllers:
            controller.queue.shutdown()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _pump(self, controller: Controller, source: WatchSource) -> None:
        namespace = source.namespace
        while True:
            watch = self.store.watch(source.kind_key, namespace)
            try:
                async for event in watch:
                    if event.type == "ERROR":
                        break
                    if source.event_filter is not None and not source.event_filter(event):
                        continue
                    for key in source.mapper(event):
                        controller.enqueue(key)
            finally:
                watch.close()
            await asyncio.sleep(0.1)

    async def _work(self, controller: Controller) -> None:
        queue = controller.queue
        while True:
            key = await queue.get()
            if key is None:
                return
            try:
                result = await controller.reconciler.reconcile(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.error_count += 1
                delay = queue.add_rate_limited(key)
                log.exception(
                    "reconcile of %s by %s failed; retrying in %.3fs", key, controller.name, delay
                )
            else:
                self.reconcile_count += 1
                queue.forget(key)
                if result is not None and result.requeue_after is not None:
                    queue.add_after(key, result.requeue_after)
            finally:
                queue.done(key)


def key_of(obj: dict[str, object]) -> ObjectKey:
    meta = obj["metadata"]
    assert isinstance(meta, dict)
    return ObjectKey(
        f"{obj['apiVersion']}/{obj['kind']}",
        str(meta.get("namespace") or CLUSTER_SCOPE),
        str(meta["name"]),
    )
