"""The SDK's operations, written once for both clients, without I/O.

Each operation is a generator (a :data:`Flow`) that yields the :class:`Call` it needs
made and receives the :class:`httpx.Response`; its return value is the operation's result.
:class:`~dockyard.client.Client` drives flows with blocking sends and
:class:`~dockyard.client.AsyncClient` with awaited ones, so kind resolution, path building,
pagination, error mapping and the create-or-replace logic of ``apply`` exist exactly once.
Streaming operations (watch, logs) use a flow only to produce their :class:`Call`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import httpx

from dockyard.client import _apply, _paths
from dockyard.client._errors import (
    AlreadyExistsError,
    ConflictError,
    ConnectionLostError,
    DockyardError,
    NotFoundError,
    ServerUnreachableError,
    UnknownKindError,
    error_from_response,
    raise_for_response,
)
from dockyard.client._kinds import KindInfo, KindTable

T = TypeVar("T")
Object = dict[str, Any]
KindRef = str | KindInfo

JSON: Final = "application/json"
MERGE_PATCH: Final = "application/merge-patch+json"
APPLY_ATTEMPTS: Final = 5


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request an operation needs, relative to the server's base URL."""

    method: str
    path: str
    params: _paths.Params = ()
    body: Any = None
    content_type: str = JSON

    def content(self) -> tuple[dict[str, str], bytes | None]:
        """Headers and encoded body; no body (and no Content-Type) when ``body`` is None."""
        if self.body is None:
            return {}, None
        return {"Content-Type": self.content_type}, json.dumps(self.body).encode()


Flow = Generator[Call, httpx.Response, T]


def transport_error(server: str, exc: httpx.TransportError) -> DockyardError:
    """Map an httpx transport failure to the SDK's error for it."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return ServerUnreachableError(server, str(exc) or type(exc).__name__)
    return ConnectionLostError(f"connection to {server} failed: {exc or type(exc).__name__}")


def decode_object(response: httpx.Response) -> Object:
    """The JSON object of a successful response; the typed ApiError otherwise."""
    raise_for_response(response)
    try:
        data = response.json()
    except ValueError as exc:
        raise ConnectionLostError(f"server sent a body that is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConnectionLostError(f"server sent {type(data).__name__}, expected an object")
    return data


def _metadata(obj: Object) -> dict[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


class Operations:
    """Flows for every request-response operation, plus the cached kind table."""

    def __init__(self) -> None:
        self._table: KindTable | None = None

    # -- discovery ---------------------------------------------------------------------

    def discover(self, *, refresh: bool = False) -> Flow[tuple[KindTable, bool]]:
        """The kind table, fetched when missing or when ``refresh``; also whether it was fetched."""
        if self._table is not None and not refresh:
            return self._table, False
        response = yield Call("GET", "/api/kinds")
        self._table = KindTable.from_discovery(decode_object(response))
        return self._table, True

    def kinds(self) -> Flow[list[KindInfo]]:
        """Every kind the server serves (always asks the server)."""
        table, _ = yield from self.discover(refresh=True)
        return list(table)

    def resolve(self, kind: KindRef) -> Flow[KindInfo]:
        """The kind a user's word names; the table is refreshed once before giving up."""
        if isinstance(kind, KindInfo):
            return kind
        table, fetched = yield from self.discover()
        info = table.resolve(kind)
        if info is None and not fetched:
            table, _ = yield from self.discover(refresh=True)
            info = table.resolve(kind)
        if info is None:
            raise UnknownKindError(kind)
        return info

    def resolve_object(self, obj: Object) -> Flow[KindInfo]:
        """The kind of an object from its ``apiVersion`` and ``kind``."""
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api_version, str) or not api_version:
            raise ValueError("object has no apiVersion")
        if not isinstance(kind, str) or not kind:
            raise ValueError("object has no kind")
        table, fetched = yield from self.discover()
        info = table.for_object(api_version, kind)
        if info is None and not fetched:
            table, _ = yield from self.discover(refresh=True)
            info = table.for_object(api_version, kind)
        if info is None:
            raise UnknownKindError(f"{kind} ({api_version})")
        return info

    @staticmethod
    def namespace_for(info: KindInfo, obj: Object, namespace: str | None) -> str | None:
        """Namespace an object goes to: its own, else ``namespace``, else ``default``.

        ``None`` for cluster-scoped kinds. An object whose namespace contradicts an
        explicit ``namespace`` is a caller error (``ValueError``), as in kubectl.
        """
        if not info.namespaced:
            return None
        own = _metadata(obj).get("namespace")
        if own and namespace and own != namespace:
            raise ValueError(
                f'the namespace of the object ("{own}") does not match the namespace '
                f'requested ("{namespace}")'
            )
        return str(own or namespace or "default")

    @staticmethod
    def _with_namespace(obj: Object, namespace: str | None) -> Object:
        body = copy.deepcopy(obj)
        if namespace is not None:
            body.setdefault("metadata", {})["namespace"] = namespace
        return body

    # -- CRUD --------------------------------------------------------------------------

    def create(self, obj: Object, namespace: str | None = None) -> Flow[Object]:
        """POST the object to its collection; returns the created object."""
        info = yield from self.resolve_object(obj)
        ns = self.namespace_for(info, obj, namespace)
        response = yield Call(
            "POST", _paths.collection_path(info, ns), body=self._with_namespace(obj, ns)
        )
        return decode_object(response)

    def get(self, kind: KindRef, name: str, namespace: str | None) -> Flow[Object]:
        """GET one object."""
        info = yield from self.resolve(kind)
        response = yield Call("GET", _paths.item_path(info, name, namespace))
        return decode_object(response)

    def list(
        self,
        kind: KindRef,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
    ) -> Flow[Object]:
        """GET a collection, following ``continue`` tokens; returns one list with every item.

        ``limit`` is the page size. The returned list keeps the first page's
        ``metadata.resourceVersion``: the point to start a watch from.
        """
        info = yield from self.resolve(kind)
        path = _paths.collection_path(info, namespace)
        extra = (("fieldSelector", field_selector),) if field_selector else ()
        items: list[Object] = []
        first: Object | None = None
        token: str | None = None
        while True:
            params = _paths.list_params(
                label_selector=label_selector, limit=limit, continue_token=token
            )
            page = decode_object((yield Call("GET", path, params + extra)))
            first = first or page
            items.extend(page.get("items") or ())
            token = _metadata(page).get("continue") or None
            if not token:
                break
        result = {k: v for k, v in first.items() if k != "items"}
        result["metadata"] = {k: v for k, v in _metadata(first).items() if k != "continue"}
        result["items"] = items
        return result

    def replace(self, obj: Object) -> Flow[Object]:
        """PUT the whole object; it must carry ``metadata.resourceVersion``."""
        info = yield from self.resolve_object(obj)
        metadata = _metadata(obj)
        if not metadata.get("resourceVersion"):
            raise ValueError("replace needs metadata.resourceVersion (get the object first)")
        ns = self.namespace_for(info, obj, None)
        response = yield Call(
            "PUT",
            _paths.item_path(info, str(metadata.get("name") or ""), ns),
            body=self._with_namespace(obj, ns),
        )
        return decode_object(response)

    def patch(self, kind: KindRef, name: str, patch: Object, namespace: str | None) -> Flow[Object]:
        """PATCH with a JSON merge patch (RFC 7386); returns the patched object."""
        info = yield from self.resolve(kind)
        response = yield Call(
            "PATCH", _paths.item_path(info, name, namespace), body=patch, content_type=MERGE_PATCH
        )
        return decode_object(response)

    def delete(self, kind: KindRef, name: str, namespace: str | None) -> Flow[Object]:
        """DELETE one object; returns it (with ``deletionTimestamp`` while finalizing)."""
        info = yield from self.resolve(kind)
        response = yield Call("DELETE", _paths.item_path(info, name, namespace))
        return decode_object(response)

    def apply(self, obj: Object, namespace: str | None = None) -> Flow[tuple[Object, str]]:
        """Create the object, or bring the existing one in line with it.

        Returns ``(object, "created" | "configured" | "unchanged")``. An object with only
        ``generateName`` is always created. A replace that loses a race (409 Conflict) is
        retried from a fresh read up to :data:`APPLY_ATTEMPTS` times.
        """
        info = yield from self.resolve_object(obj)
        ns = self.namespace_for(info, obj, namespace)
        desired = self._with_namespace(_apply.desired_state(obj), ns)
        name = str(_metadata(desired).get("name") or "")
        collection = _paths.collection_path(info, ns)
        if not name:
            return decode_object((yield Call("POST", collection, body=desired))), "created"

        item = _paths.item_path(info, name, ns)
        exists = False
        last_error: DockyardError | None = None
        for _ in range(APPLY_ATTEMPTS):
            if not exists:
                response = yield Call("POST", collection, body=desired)
                if response.is_success:
                    return decode_object(response), "created"
                error = error_from_response(response)
                if not isinstance(error, AlreadyExistsError):
                    raise error
                exists = True
            try:
                current = decode_object((yield Call("GET", item)))
            except NotFoundError as exc:  # deleted meanwhile: create it again
                exists, last_error = False, exc
                continue
            if _apply.is_unchanged(desired, current):
                return current, "unchanged"
            response = yield Call("PUT", item, body=_apply.replacement(desired, current))
            try:
                return decode_object(response), "configured"
            except ConflictError as exc:  # changed since our read: read again
                last_error = exc
            except NotFoundError as exc:
                exists, last_error = False, exc
        assert last_error is not None
        raise last_error

    def version(self) -> Flow[Object]:
        """``GET /version``."""
        return decode_object((yield Call("GET", "/version")))

    # -- streams -----------------------------------------------------------------------

    def watch_call(
        self,
        kind: KindRef,
        namespace: str | None,
        *,
        resource_version: str | None,
        label_selector: str | None,
        name: str | None,
        timeout: float | None,
    ) -> Flow[Call]:
        """The request that opens a watch stream."""
        info = yield from self.resolve(kind)
        timeout_seconds = None if timeout is None else max(1, int(timeout + 0.999))
        params = _paths.watch_params(
            resource_version=resource_version,
            label_selector=label_selector,
            name=name,
            timeout_seconds=timeout_seconds,
        )
        return Call("GET", _paths.collection_path(info, namespace), params)

    @staticmethod
    def logs_call(
        name: str,
        namespace: str,
        *,
        container: str | None,
        follow: bool,
        tail_lines: int | None,
    ) -> Call:
        """The request that reads (or follows) a Pod's log."""
        params = _paths.log_params(container=container, follow=follow, tail_lines=tail_lines)
        return Call("GET", _paths.log_path(name, namespace), params)
