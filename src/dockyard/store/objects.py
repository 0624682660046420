"""The object store: durable Kubernetes-style objects in SQLite with a watchable log.

Contract:

* Every write (create, update, delete) is one SQLite transaction that updates ``objects``
  and appends one row to ``events``; the event's rowid is the new global resourceVersion,
  which is also written into the object's ``metadata.resourceVersion``. A call returns only
  after its transaction committed, so an acknowledged write survives SIGKILL.
* ``update`` with a ``metadata.resourceVersion`` that is not the stored one raises
  :class:`ConflictError` (optimistic concurrency); without one it is unconditional.
* ``delete`` of an object with finalizers only sets ``deletionTimestamp``; the update that
  removes the last finalizer deletes it. Deleting an object deletes its dependents (objects
  whose ownerReferences name its uid), recursively, in the same transaction.
* Watches see every committed event in order, from any resourceVersion still in the log.

The store is kind-agnostic: it stores dicts that upper layers already validated, keyed by
``kind_key`` (``apiVersion/Kind``). It is thread-safe.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dockyard.api.errors import (
    AlreadyExistsError,
    ConflictError,
    FieldCause,
    GoneError,
    InvalidError,
    NotFoundError,
)
from dockyard.api.labels import LabelSelector
from dockyard.store.schema import connect
from dockyard.store.watch import EventType, StoreEvent, Watch, WatchFilter

Clock = Callable[[], datetime]
CLUSTER_SCOPE = ""  # the namespace column value of cluster-scoped objects


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _random_suffix(length: int = 5) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _with_own_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    """A shallow copy whose ``metadata`` may be edited without touching the caller's."""
    return {**obj, "metadata": dict(obj.get("metadata") or {})}


def _kind_of(kind_key: str) -> str:
    return kind_key.rpartition("/")[2]


class ObjectStore:
    """SQLite-backed store of API objects. See the module docstring for the contract."""

    def __init__(
        self,
        path: Path | str,
        *,
        synchronous: str = "NORMAL",
        event_retention: int = 200_000,
        clock: Clock = utc_now,
    ) -> None:
        self.path = str(path)
        self._conn = connect(self.path, synchronous)
        self._lock = threading.RLock()
        self._watches: set[Watch] = set()
        self._clock = clock
        self._retention = event_retention
        self._writes_since_trim = 0
        row = self._conn.execute(
            "SELECT COALESCE(MAX(rv), 0), COALESCE(MIN(rv), 1) FROM events"
        ).fetchone()
        self._rv: int = int(row[0])
        self._oldest_rv: int = int(row[1])
        self.write_count = 0

    # -- reads -----------------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        """The resourceVersion of the latest committed write."""
        return self._rv

    def get(self, kind_key: str, namespace: str, name: str) -> dict[str, Any]:
        """A fresh copy of the stored object (the caller may modify it)."""
        return json.loads(self._get_raw(kind_key, namespace, name))  # type: ignore[no-any-return]

    def _get_raw(self, kind_key: str, namespace: str, name: str) -> str:
        with self._lock:
            row = self._conn.execute(
                "SELECT data FROM objects WHERE kind_key=? AND namespace=? AND name=?",
                (kind_key, namespace, name),
            ).fetchone()
        if row is None:
            raise NotFoundError(
                f'{_kind_of(kind_key)} "{name}" not found', kind=_kind_of(kind_key), name=name
            )
        return str(row[0])

    def try_get(self, kind_key: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.get(kind_key, namespace, name)
        except NotFoundError:
            return None

    def list(
        self,
        kind_key: str,
        namespace: str | None = None,
        selector: LabelSelector | None = None,
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        """Objects of a kind (in one namespace, or all when None) and the list's rv."""
        with self._lock:
            if namespace is None:
                rows = self._conn.execute(
                    "SELECT data FROM objects WHERE kind_key=? ORDER BY namespace, name",
                    (kind_key,),
                ).fetchall()
            else:
                rows = self._conn.execute(
                    "SELECT data FROM objects WHERE kind_key=? AND namespace=? ORDER BY name",
                    (kind_key, namespace),
                ).fetchall()
            rv = self._rv
        items = [json.loads(r[0]) for r in rows]
        if selector is not None and not selector.empty:
            items = [o for o in items if selector.matches(o["metadata"].get("labels"))]
        return items, rv

    def count(self, kind_key: str) -> int:
        with self._lock:
            row = self._conn.execute(
                "SELECT COUNT(*) FROM objects WHERE kind_key=?", (kind_key,)
            ).fetchone()
        return int(row[0])

    # -- writes ----------------------------------------------------------------------
    def create(self, kind_key: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object; fills uid, resourceVersion, generation, creationTimestamp,
        and a name from ``generateName`` when no name is given. The caller's dict is not
        modified; the returned (and watched) object must be treated as read-only."""
        obj = _with_own_metadata(obj)
        meta = obj["metadata"]
        namespace = meta.get("namespace") or CLUSTER_SCOPE
        with self._lock:
            if not meta.get("name"):
                prefix = meta.get("generateName")
                if not prefix:
                    raise InvalidError(
                        "name or generateName is required",
                        causes=[
                            FieldCause(
                                "metadata.name",
                                "name or generateName is required",
                                "FieldValueRequired",
                            )
                        ],
                    )
                for _ in range(16):
                    candidate = prefix + _random_suffix()
                    if not self._exists(kind_key, namespace, candidate):
                        meta["name"] = candidate
                        break
            name = meta["name"]
            if self._exists(kind_key, namespace, name):
                raise AlreadyExistsError(
                    f'{_kind_of(kind_key)} "{name}" already exists',
                    kind=_kind_of(kind_key),
                    name=name,
                )
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = format_time(self._clock())
            meta["generation"] = 1
            meta.pop("deletionTimestamp", None)
            with self._transaction():
                rv = self._next_rv()
                meta["resourceVersion"] = str(rv)
                data = json.dumps(obj, separators=(",", ":"))
                self._conn.execute(
                    "INSERT INTO objects(kind_key, namespace, name, uid, rv, data) VALUES (?,?,?,?,?,?)",
                    (kind_key, namespace, name, meta["uid"], rv, data),
                )
                self._index_owners(meta["uid"], meta.get("ownerReferences"))
                self._log(rv, "ADDED", kind_key, namespace, name, data)
            self._publish([StoreEvent("ADDED", kind_key, namespace, name, rv, obj)])
            return obj

    def update(
        self, kind_key: str, obj: dict[str, Any], *, _mark_deleted: bool = False
    ) -> dict[str, Any]:
        """Replace an object. Immutable metadata (uid, creationTimestamp, name) is kept from
        the stored copy; ``generation`` increases when ``spec`` changes. The caller's dict
        is not modified; the returned (and watched) object must be treated as read-only."""
        obj = _with_own_metadata(obj)
        meta = obj["metadata"]
        namespace = meta.get("namespace") or CLUSTER_SCOPE
        name = meta.get("name", "")
        with self._lock:
            current = self.get(kind_key, namespace, name)
            return self._update_locked(kind_key, obj, current, _mark_deleted)

    def _update_locked(
        self,
        kind_key: str,
        obj: dict[str, Any],
        current: dict[str, Any],
        _mark_deleted: bool = False,
    ) -> dict[str, Any]:
        """The body of :meth:`update` with the store lock held and ``current`` (the stored
        object) already read; ``obj`` has its own metadata dict."""
        meta = obj["metadata"]
        namespace = meta.get("namespace") or CLUSTER_SCOPE
        name = meta.get("name", "")
        cur_meta = current["metadata"]
        wanted_rv = meta.get("resourceVersion")
        if wanted_rv not in (None, "") and str(wanted_rv) != cur_meta["resourceVersion"]:
            raise ConflictError(
                f'Operation cannot be fulfilled on {_kind_of(kind_key).lower()} "{name}": '
                "the object has been modified; please apply your changes to the latest "
                "version and try again",
                kind=_kind_of(kind_key),
                name=name,
            )
        immutable = (
            ("uid", "creationTimestamp")
            if _mark_deleted
            else ("uid", "creationTimestamp", "deletionTimestamp")
        )
        for key in immutable:
            if key in cur_meta:
                meta[key] = cur_meta[key]
            else:
                meta.pop(key, None)
        generation = int(cur_meta.get("generation", 1))
        if obj.get("spec") != current.get("spec"):
            generation += 1
        meta["generation"] = generation
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._delete_locked(kind_key, namespace, name, obj)
        with self._transaction():
            rv = self._next_rv()
            meta["resourceVersion"] = str(rv)
            data = json.dumps(obj, separators=(",", ":"))
            self._conn.execute(
                "UPDATE objects SET rv=?, data=? WHERE kind_key=? AND namespace=? AND name=?",
                (rv, data, kind_key, namespace, name),
            )
            if meta.get("ownerReferences") != cur_meta.get("ownerReferences"):
                self._conn.execute("DELETE FROM owners WHERE child_uid=?", (meta["uid"],))
                self._index_owners(meta["uid"], meta.get("ownerReferences"))
            self._log(rv, "MODIFIED", kind_key, namespace, name, data)
        self._publish([StoreEvent("MODIFIED", kind_key, namespace, name, rv, obj)])
        return obj

    def mutate(
        self,
        kind_key: str,
        namespace: str,
        name: str,
        change: Callable[[dict[str, Any]], dict[str, Any] | None],
    ) -> dict[str, Any]:
        """Read-modify-write under the store lock: ``change`` edits the object in place (or
        returns a replacement). Returns the stored object; skips the write when unchanged."""
        with self._lock:
            raw = self._get_raw(kind_key, namespace, name)
            current: dict[str, Any] = json.loads(raw)
            edited: dict[str, Any] = json.loads(raw)
            result = change(edited)
            if result is not None:
                edited = result
            if edited == current:
                return current
            edited = _with_own_metadata(edited)
            edited["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            return self._update_locked(kind_key, edited, current)

    def delete(
        self,
        kind_key: str,
        namespace: str,
        name: str,
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Delete an object and, recursively, its dependents. With finalizers present the
        object is only marked (``deletionTimestamp``) and returned."""
        with self._lock:
            current = self.get(kind_key, namespace, name)
            meta = current["metadata"]
            if resource_version and resource_version != meta["resourceVersion"]:
                raise ConflictError(
                    f'{_kind_of(kind_key)} "{name}" changed since resourceVersion {resource_version}',
                    kind=_kind_of(kind_key),
                    name=name,
                )
            if meta.get("finalizers"):
                if not meta.get("deletionTimestamp"):
                    meta["deletionTimestamp"] = format_time(self._clock())
                    return self.update(kind_key, current, _mark_deleted=True)
                return current
            return self._delete_locked(kind_key, namespace, name, current)

    def _delete_locked(
        self, kind_key: str, namespace: str, name: str, final: dict[str, Any]
    ) -> dict[str, Any]:
        events: builtins.list[StoreEvent] = []
        with self._transaction():
            self._delete_one(kind_key, namespace, name, final, events)
        self._publish(events)
        return events[0].object if events else final

    def _delete_one(
        self,
        kind_key: str,
        namespace: str,
        name: str,
        final: dict[str, Any],
        events: builtins.list[StoreEvent],
    ) -> None:
        uid = final["metadata"]["uid"]
        rv = self._next_rv()
        final["metadata"]["resourceVersion"] = str(rv)
        data = json.dumps(final, separators=(",", ":"))
        self._conn.execute(
            "DELETE FROM objects WHERE kind_key=? AND namespace=? AND name=?",
            (kind_key, namespace, name),
        )
        self._conn.execute("DELETE FROM owners WHERE child_uid=?", (uid,))
        self._log(rv, "DELETED", kind_key, namespace, name, data)
        events.append(StoreEvent("DELETED", kind_key, namespace, name, rv, final))
        children = self._conn.execute(
            "SELECT o.kind_key, o.namespace, o.name, o.data FROM owners w "
            "JOIN objects o ON o.uid = w.child_uid WHERE w.owner_uid=?",
            (uid,),
        ).fetchall()
        self._conn.execute("DELETE FROM owners WHERE owner_uid=?", (uid,))
        for child_kind, child_ns, child_name, child_data in children:
            self._delete_one(child_kind, child_ns, child_name, json.loads(child_data), events)

    def delete_namespace_contents(self, namespace: str) -> int:
        """Delete every object in ``namespace`` (used when the Namespace is deleted)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT kind_key, name, data FROM objects WHERE namespace=?", (namespace,)
            ).fetchall()
            if not rows:
                return 0
            events: builtins.list[StoreEvent] = []
            with self._transaction():
                for kind_key, name, data in rows:
                    if self._exists(kind_key, namespace, name):
                        self._delete_one(kind_key, namespace, name, json.loads(data), events)
            self._publish(events)
            return len(events)

    # -- watches ---------------------------------------------------------------------
    def watch(
        self,
        kind_key: str | None = None,
        namespace: str | None = None,
        *,
        since_rv: int | None = None,
        selector: LabelSelector | None = None,
        name: str | None = None,
    ) -> Watch:
        """Subscribe to changes. With ``since_rv`` the watch first replays every logged
        event after it (GoneError if that part of the log was trimmed); without it, it
        starts with a synthetic ADDED event per existing object, then live events."""
        filter_ = WatchFilter(kind_key, namespace, name, selector or LabelSelector())
        with self._lock:
            watch = Watch(filter_, self._forget_watch)
            if since_rv is None:
                for obj in self._existing(filter_):
                    meta = obj["metadata"]
                    watch.deliver(
                        StoreEvent(
                            "ADDED",
                            f"{obj['apiVersion']}/{obj['kind']}",
                            meta.get("namespace") or CLUSTER_SCOPE,
                            meta["name"],
                            int(meta["resourceVersion"]),
                            obj,
                        )
                    )
            else:
                if since_rv < self._oldest_rv - 1 and since_rv < self._rv:
                    raise GoneError(
                        f"too old resource version: {since_rv} (oldest retained: {self._oldest_rv})"
                    )
                for event in self._replay(filter_, since_rv):
                    watch.deliver(event)
            self._watches.add(watch)
        return watch

    def _existing(self, filter_: WatchFilter) -> Iterable[dict[str, Any]]:
        sql, params = "SELECT data FROM objects WHERE 1=1", []
        if filter_.kind_key is not None:
            sql += " AND kind_key=?"
            params.append(filter_.kind_key)
        if filter_.namespace is not None:
            sql += " AND namespace=?"
            params.append(filter_.namespace)
        for (data,) in self._conn.execute(sql + " ORDER BY rv", params):
            yield json.loads(data)

    def _replay(self, filter_: WatchFilter, since_rv: int) -> Iterable[StoreEvent]:
        sql = "SELECT rv, type, kind_key, namespace, name, data FROM events WHERE rv > ?"
        params: builtins.list[Any] = [since_rv]
        if filter_.kind_key is not None:
            sql += " AND kind_key=?"
            params.append(filter_.kind_key)
        for rv, type_, kind_key, namespace, name, data in self._conn.execute(
            sql + " ORDER BY rv", params
        ):
            yield StoreEvent(type_, kind_key, namespace, name, rv, json.loads(data))

    def _forget_watch(self, watch: Watch) -> None:
        with self._lock:
            self._watches.discard(watch)

    @property
    def watch_count(self) -> int:
        return len(self._watches)

    def close(self) -> None:
        with self._lock:
            for watch in list(self._watches):
                watch.close()
            self._conn.close()

    # -- internals -------------------------------------------------------------------
    def _exists(self, kind_key: str, namespace: str, name: str) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM objects WHERE kind_key=? AND namespace=? AND name=?",
            (kind_key, namespace, name),
        ).fetchone()
        return row is not None

    def _index_owners(self, child_uid: str, refs: builtins.list[dict[str, Any]] | None) -> None:
        for ref in refs or []:
            if ref.get("uid"):
                self._conn.execute(
                    "INSERT OR IGNORE INTO owners(owner_uid, child_uid) VALUES (?, ?)",
                    (ref["uid"], child_uid),
                )

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _log(
        self, rv: int, type_: EventType, kind_key: str, namespace: str, name: str, data: str
    ) -> None:
        self._conn.execute(
            "INSERT INTO events(rv, type, kind_key, namespace, name, data) VALUES (?,?,?,?,?,?)",
            (rv, type_, kind_key, namespace, name, data),
        )

    def _publish(self, events: builtins.list[StoreEvent]) -> None:
        for event in events:
            for watch in list(self._watches):
                watch.deliver(event)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One SQLite transaction (BEGIN IMMEDIATE … COMMIT). On failure it rolls back and
        gives back the resourceVersions allocated inside it."""
        start_rv = self._rv
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            self._rv = start_rv
            raise
        self.write_count += 1
        self._maybe_trim()

    def _maybe_trim(self) -> None:
        self._writes_since_trim += 1
        if self._writes_since_trim < 1000:
            return
        self._writes_since_trim = 0
        cutoff = self._rv - self._retention
        if cutoff > self._oldest_rv:
            self._conn.execute("DELETE FROM events WHERE rv <= ?", (cutoff,))
            self._oldest_rv = cutoff + 1
