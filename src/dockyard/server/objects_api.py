"""Kubernetes-style REST endpoints for every registered kind.

Paths: ``/api/v1/...`` for the core group and ``/apis/{group}/{version}/...`` for the
others; namespaced kinds live under ``namespaces/{ns}/{plural}``; cluster-scoped kinds and
all-namespace lists directly under ``{plural}``. Verbs: POST (create), GET (get, list, or
watch with ``?watch=true``), PUT (replace), PATCH (JSON merge patch), DELETE, plus the
``/status`` subresource (PUT/PATCH) and Pod ``/log``.

Handlers parse and serialize JSON themselves (no response models) to keep per-request
overhead low; the kind's model validates every write through :class:`Admission`.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import yaml
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from dockyard.api import REGISTRY, KindInfo
from dockyard.api.errors import (
    ApiError,
    BadRequestError,
    FieldCause,
    GoneError,
    NotFoundError,
)
from dockyard.api.labels import parse_selector
from dockyard.api.names import dns1123_subdomain_problem
from dockyard.server.merge_patch import merge_patch
from dockyard.store import CLUSTER_SCOPE

if TYPE_CHECKING:
    from dockyard.server.controlplane import ControlPlane

SYSTEM_ANNOTATION_PREFIX = "dockyard.dev/"
MERGE_PATCH_TYPES = (
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/json",
)


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(
        content=json.dumps(obj, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
    )


async def read_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        raise BadRequestError("request body is empty")
    content_type = request.headers.get("content-type", "application/json")
    try:
        data = yaml.safe_load(raw) if "yaml" in content_type else json.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise BadRequestError(
            f"request body is not valid {'YAML' if 'yaml' in content_type else 'JSON'}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise BadRequestError("request body must be a JSON object")
    return data


def check_path_name(name: str, field: str = "name") -> None:
    if "/" in name or ".." in name or dns1123_subdomain_problem(name):
        problem = dns1123_subdomain_problem(name) or "must not contain '/' or '..'"
        raise BadRequestError(
            f"invalid {field} {name!r} in path", causes=[FieldCause(f"metadata.{field}", problem)]
        )


class ObjectsApi:
    """The generic handlers, bound to one control plane."""

    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp
        self.store = cp.store

    # -- resolution --------------------------------------------------------------------
    def _kind(self, group: str, version: str, plural: str, namespaced_path: bool) -> KindInfo:
        info = REGISTRY.by_plural(group, version, plural)
        if namespaced_path and not info.namespaced:
            raise NotFoundError(f"{info.kind} is cluster-scoped; drop the namespaces/... part")
        return info

    def _ensure_namespace(self, namespace: str) -> None:
        check_path_name(namespace, "namespace")
        if self.store.try_get("v1/Namespace", CLUSTER_SCOPE, namespace) is None:
            raise NotFoundError(
                f'namespaces "{namespace}" not found', kind="Namespace", name=namespace
            )

    def _prepare(
        self, info: KindInfo, obj: dict[str, Any], namespace: str | None
    ) -> dict[str, Any]:
        obj.setdefault("apiVersion", info.api_version)
        obj.setdefault("kind", info.kind)
        if obj["apiVersion"] != info.api_version or obj["kind"] != info.kind:
            raise BadRequestError(
                f"the body is a {obj['apiVersion']}/{obj['kind']}, but the path is for {info.key}",
                causes=[FieldCause("kind", "does not match the request path")],
            )
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise BadRequestError(
                "metadata must be an object", causes=[FieldCause("metadata", "must be an object")]
            )
        if info.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and namespace and body_ns != namespace:
                raise BadRequestError(
                    f"the namespace of the object ({body_ns}) does not match the namespace of the request ({namespace})",
                    causes=[FieldCause("metadata.namespace", "does not match the request path")],
                )
            meta["namespace"] = namespace or body_ns or "default"
        else:
            meta.pop("namespace", None)
        return obj

    # -- verbs -------------------------------------------------------------------------
    async def create(self, info: KindInfo, namespace: str | None, request: Request) -> Response:
        obj = self._prepare(info, await read_body(request), namespace)
        if info.namespaced:
            self._ensure_namespace(obj["metadata"]["namespace"])
        obj.pop("status", None)
        admitted = self.cp.admission.admit(info, obj)
        if info.kind == "Namespace":
            admitted["status"] = {"phase": "Active"}
        stored = self.store.create(info.key, admitted)
        return json_response(stored, 201)

    def get(self, info: KindInfo, namespace: str | None, name: str) -> Response:
        check_path_name(name)
        return json_response(self.store.get(info.key, namespace or CLUSTER_SCOPE, name))

    async def list_or_watch(
        self, info: KindInfo, namespace: str | None, request: Request
    ) -> Response:
        params = request.query_params
        selector = parse_selector(params.get("labelSelector"))
        field_filters = _parse_field_selector(params.get("fieldSelector"))
        if params.get("watch") in ("true", "1", "True"):
            return self._watch(info, namespace, request, selector, field_filters)
        items, rv = self.store.list(info.key, namespace, selector)
        items = [o for o in items if _fields_match(o, field_filters)]
        metadata: dict[str, Any] = {"resourceVersion": str(rv)}
        limit = params.get("limit")
        if limit:
            offset = _decode_continue(params.get("continue"))
            try:
                size = int(limit)
            except ValueError:
                raise BadRequestError(
                    "limit must be an integer", causes=[FieldCause("limit", "must be an integer")]
                ) from None
            page = items[offset : offset + size]
            if offset + size < len(items):
                metadata["continue"] = base64.urlsafe_b64encode(
                    str(offset + size).encode()
                ).decode()
                metadata["remainingItemCount"] = len(items) - offset - size
            items = page
        return json_response(
            {
                "apiVersion": info.api_version,
                "kind": f"{info.kind}List",
                "metadata": metadata,
                "items": items,
            }
        )

    def _watch(
        self,
        info: KindInfo,
        namespace: str | None,
        request: Request,
        selector: Any,
        field_filters: dict[str, str],
    ) -> Response:
        params = request.query_params
        raw_rv = params.get("resourceVersion")
        since: int | None = None
        if raw_rv not in (None, "", "0"):
            try:
                since = int(str(raw_rv))
            except ValueError:
                raise BadRequestError(
                    "resourceVersion must be an integer",
                    causes=[FieldCause("resourceVersion", "must be an integer")],
                ) from None
        name = field_filters.pop("metadata.name", None)
        try:
            watch = self.store.watch(
                info.key, namespace, since_rv=since, selector=selector, name=name
            )
        except GoneError as exc:
            # Kubernetes reports an expired watch as an ERROR event in a 200 stream.
            body = json.dumps({"type": "ERROR", "object": exc.to_status()}) + "\n"
            return Response(content=body, media_type="application/json")
        timeout = float(params.get("timeoutSeconds") or 0) or None

        async def stream() -> AsyncIterator[bytes]:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout if timeout else None
            try:
                yield b""
                while True:
                    remaining = None if deadline is None else deadline - loop.time()
                    if remaining is not None and remaining <= 0:
                        return
                    wait = 15.0 if remaining is None else min(remaining, 15.0)
                    batch = await watch.next_batch(timeout=wait)
                    if batch is None:
                        return
                    lines = [
                        json.dumps(event.to_wire(), separators=(",", ":"))
                        for event in batch
                        if not field_filters
                        or event.type == "ERROR"
                        or _fields_match(event.object, field_filters)
                    ]
                    if lines:
                        yield ("\n".join(lines) + "\n").encode()
            finally:
                watch.close()

        return StreamingResponse(stream(), media_type="application/json")

    async def replace(
        self, info: KindInfo, namespace: str | None, name: str, request: Request
    ) -> Response:
        check_path_name(name)
        obj = self._prepare(info, await read_body(request), namespace)
        body_name = obj["metadata"].get("name")
        if body_name and body_name != name:
            raise BadRequestError(
                f"the name of the object ({body_name}) does not match the name in the path ({name})",
                causes=[FieldCause("metadata.name", "does not match the request path")],
            )
        obj["metadata"]["name"] = name
        return json_response(self._update(info, obj, status_only=False))

    def _update(self, info: KindInfo, obj: dict[str, Any], status_only: bool) -> dict[str, Any]:
        meta = obj["metadata"]
        current = self.store.get(info.key, meta.get("namespace") or CLUSTER_SCOPE, meta["name"])
        if status_only:
            merged = copy.deepcopy(current)
            merged["status"] = obj.get("status") or {}
            merged["metadata"]["resourceVersion"] = meta.get("resourceVersion") or ""
            obj = merged
        else:
            obj["status"] = current.get("status", {})
            _carry_system_fields(obj, current)
        admitted = self.cp.admission.admit(info, obj, current if not status_only else None)
        return self.store.update(info.key, admitted)

    async def patch(
        self,
        info: KindInfo,
        namespace: str | None,
        name: str,
        request: Request,
        status_only: bool = False,
    ) -> Response:
        check_path_name(name)
        content_type = request.headers.get("content-type", "application/merge-patch+json").split(
            ";"
        )[0]
        if content_type not in MERGE_PATCH_TYPES:
            raise _UnsupportedMedia(
                f"unsupported patch content type {content_type!r}; use application/merge-patch+json"
            )
        patch = await read_body(request)
        current = self.store.get(info.key, namespace or CLUSTER_SCOPE, name)
        patched = merge_patch(copy.deepcopy(current), patch)
        if not isinstance(patched, dict):
            raise BadRequestError("a patch must produce an object")
        patched = self._prepare(info, patched, namespace)
        patched["metadata"]["name"] = name
        if "resourceVersion" not in (patch.get("metadata") or {}):
            patched["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        if status_only:
            return json_response(self._update(info, patched, status_only=True))
        patched["status"] = current.get("status", {})
        return json_response(self._update(info, patched, status_only=False))

    async def replace_status(
        self, info: KindInfo, namespace: str | None, name: str, request: Request
    ) -> Response:
        check_path_name(name)
        obj = self._prepare(info, await read_body(request), namespace)
        obj["metadata"]["name"] = name
        return json_response(self._update(info, obj, status_only=True))

    def delete(
        self, info: KindInfo, namespace: str | None, name: str, request: Request
    ) -> Response:
        check_path_name(name)
        rv = request.query_params.get("resourceVersion")
        deleted = self.store.delete(info.key, namespace or CLUSTER_SCOPE, name, resource_version=rv)
        if info.key == "v1/Namespace":
            self.store.delete_namespace_contents(name)
        # With finalizers left the object is only marked for deletion (still stored).
        return json_response(deleted, 202 if deleted["metadata"].get("finalizers") else 200)


class _UnsupportedMedia(ApiError):
    reason = "UnsupportedMediaType"
    code = 415


def _carry_system_fields(obj: dict[str, Any], current: dict[str, Any]) -> None:
    """Keep what the system set on an object when a user replaces it with their own copy
    (binding, and annotations under ``dockyard.dev/``)."""
    spec = obj.get("spec")
    if isinstance(spec, dict) and current.get("kind") == "Pod" and "nodeName" not in spec:
        node = (current.get("spec") or {}).get("nodeName")
        if node:
            spec["nodeName"] = node
    system = {
        k: v
        for k, v in (current["metadata"].get("annotations") or {}).items()
        if k.startswith(SYSTEM_ANNOTATION_PREFIX)
    }
    if system:
        annotations = obj["metadata"].setdefault("annotations", {}) or {}
        for key, value in system.items():
            annotations.setdefault(key, value)
        obj["metadata"]["annotations"] = annotations


def _decode_continue(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except ValueError:
        raise BadRequestError(
            "invalid continue token",
            causes=[FieldCause("continue", "is not a token from this server")],
        ) from None


def _parse_field_selector(text: str | None) -> dict[str, str]:
    filters: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise BadRequestError(
                "invalid field selector",
                causes=[FieldCause("fieldSelector", f"cannot parse {part!r}")],
            )
        filters[key.strip()] = value.lstrip("=").strip()
    return filters


def _fields_match(obj: dict[str, Any], filters: dict[str, str]) -> bool:
    for path, wanted in filters.items():
        value: Any = obj
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if (value or "") != wanted:
            return False
    return True


def build_routers(cp: ControlPlane) -> tuple[APIRouter, APIRouter]:
    """The object API as two routers: namespaced paths (``.../namespaces/{ns}/...``), which
    no extension shares and which carry most traffic, and cluster-scoped paths
    (``.../{plural}[/{name}]``), whose shape overlaps extension APIs such as Argo's
    ``/api/v1/workflows/{ns}``. The app mounts the first before extensions and the second
    after them, so hot requests match early and extensions keep their own paths."""
    api = ObjectsApi(cp)
    namespaced, cluster = APIRouter(), APIRouter()

    def kind(request: Request, namespaced_path: bool) -> KindInfo:
        p = request.path_params
        return api._kind(p.get("group", ""), p["version"], p["plural"], namespaced_path)

    for prefix in ("/api/{version}", "/apis/{group}/{version}"):

        @namespaced.get(
            prefix + "/namespaces/{namespace}/{plural}",
            tags=["objects"],
            summary="List or watch objects",
        )
        async def list_ns(request: Request, namespace: str) -> Response:
            check_path_name(namespace, "namespace")
            return await api.list_or_watch(kind(request, True), namespace, request)

        @namespaced.post(
            prefix + "/namespaces/{namespace}/{plural}",
            tags=["objects"],
            summary="Create an object",
        )
        async def create_ns(request: Request, namespace: str) -> Response:
            return await api.create(kind(request, True), namespace, request)

        @namespaced.get(
            prefix + "/namespaces/{namespace}/pods/{name}/log",
            tags=["objects"],
            summary="Read Pod logs",
        )
        async def pod_log(request: Request, namespace: str, name: str) -> Response:
            return await cp.logs.read(namespace, name, request)

        _item_routes(
            namespaced, api, kind, prefix + "/namespaces/{namespace}/{plural}/{name}", True
        )

        @cluster.get(
            prefix + "/{plural}", tags=["objects"], summary="List or watch objects (all namespaces)"
        )
        async def list_all(request: Request) -> Response:
            return await api.list_or_watch(kind(request, False), None, request)

        @cluster.post(
            prefix + "/{plural}", tags=["objects"], summary="Create a cluster-scoped object"
        )
        async def create_cluster(request: Request) -> Response:
            return await api.create(kind(request, False), None, request)

        _item_routes(cluster, api, kind, prefix + "/{plural}/{name}", False)
    return namespaced, cluster


def _item_routes(router: APIRouter, api: ObjectsApi, kind: Any, path: str, scoped: bool) -> None:
    def ns(request: Request) -> str | None:
        return request.path_params.get("namespace") if scoped else None

    @router.get(path, tags=["objects"], summary="Get an object")
    async def get_item(request: Request, name: str) -> Response:
        return api.get(kind(request, scoped), ns(request), name)

    @router.put(path, tags=["objects"], summary="Replace an object")
    async def put_item(request: Request, name: str) -> Response:
        return await api.replace(kind(request, scoped), ns(request), name, request)

    @router.patch(path, tags=["objects"], summary="Patch an object (JSON merge patch)")
    async def patch_item(request: Request, name: str) -> Response:
        return await api.patch(kind(request, scoped), ns(request), name, request)

    @router.delete(path, tags=["objects"], summary="Delete an object")
    async def delete_item(request: Request, name: str) -> Response:
        return api.delete(kind(request, scoped), ns(request), name, request)

    @router.put(path + "/status", tags=["objects"], summary="Replace an object's status")
    async def put_status(request: Request, name: str) -> Response:
        return await api.replace_status(kind(request, scoped), ns(request), name, request)

    @router.patch(path + "/status", tags=["objects"], summary="Patch an object's status")
    async def patch_status(request: Request, name: str) -> Response:
        return await api.patch(kind(request, scoped), ns(request), name, request, status_only=True)
