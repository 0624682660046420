"""An in-memory Dockyard API behind :class:`httpx.MockTransport`, for SDK and CLI tests.

It implements the HTTP contract the real server follows — discovery, CRUD with
resourceVersions and 409s, merge patch, label selectors, pagination, NDJSON watches with
410 on a compacted history, Pod logs, bearer tokens and Kubernetes ``Status`` errors —
with just enough validation to produce each error shape. Tests mutate it directly
(:meth:`FakeApi.put`, :meth:`FakeApi.set_status`) and may queue mutations to happen when
the next watch opens (:attr:`FakeApi.on_watch`), which is how a wait observes change.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import httpx

KINDS: list[dict[str, Any]] = [
    {"apiVersion": "v1", "kind": "Pod", "plural": "pods", "singular": "pod",
     "namespaced": True, "shortNames": ["po"]},
    {"apiVersion": "v1", "kind": "Namespace", "plural": "namespaces", "singular": "namespace",
     "namespaced": False, "shortNames": ["ns"]},
    {"apiVersion": "v1", "kind": "Node", "plural": "nodes", "singular": "node",
     "namespaced": False, "shortNames": ["no"]},
    {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "plural": "workflows",
     "singular": "workflow", "namespaced": True, "shortNames": ["wf"]},
]  # fmt: skip

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
Key = tuple[str, str, str, str]  # apiVersion, plural, namespace ("" if cluster-scoped), name


def status_body(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    """A Kubernetes failure Status."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "reason": reason,
        "message": message,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


class Failure(Exception):
    """Raised inside the fake to answer with a Status."""

    def __init__(self, code: int, reason: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.body = status_body(code, reason, message, **details)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _split_terms(selector: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for ch in selector:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            terms.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        terms.append(current.strip())
    return terms


def selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """Kubernetes label selector semantics (=, ==, !=, in, notin, exists, !exists)."""
    for term in _split_terms(selector):
        if m := re.fullmatch(r"(\S+)\s+(in|notin)\s+\((.*)\)", term):
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if (labels.get(key) in values) != (op == "in"):
                return False
        elif "!=" in term:
            key, value = (p.strip() for p in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (p.strip() for p in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


class FakeApi:
    """The fake server. ``transport`` serves both ``Client`` and ``AsyncClient``."""

    def __init__(self, token: str | None = None) -> None:
        self.kinds: list[dict[str, Any]] = copy.deepcopy(KINDS)
        self.objects: dict[Key, dict[str, Any]] = {}
        self.events: list[tuple[int, str, dict[str, Any]]] = []
        self.rv = 100
        self.compacted_through = 0
        self.token = token
        self.requests: list[httpx.Request] = []
        self.logs: dict[tuple[str, str], dict[str, str]] = {}
        self.on_watch: list[Callable[[FakeApi], None]] = []
        self.now = datetime(2024, 1, 1, tzinfo=UTC)
        self.refuse_connections = False
        self._generated = 0

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    # -- direct state manipulation for tests -------------------------------------------

    def _kind(self, api_version: str, kind: str) -> dict[str, Any]:
        for k in self.kinds:
            if k["apiVersion"] == api_version and k["kind"] == kind:
                return k
        raise KeyError(kind)

    def _key(self, obj: dict[str, Any]) -> Key:
        info = self._kind(obj["apiVersion"], obj["kind"])
        ns = obj["metadata"].get("namespace", "default") if info["namespaced"] else ""
        return (obj["apiVersion"], info["plural"], ns, obj["metadata"]["name"])

    def _record(self, kind: str, obj: dict[str, Any]) -> None:
        self.rv += 1
        if kind != "DELETED":
            obj["metadata"]["resourceVersion"] = str(self.rv)
        self.events.append((self.rv, kind, copy.deepcopy(obj)))

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store ``obj`` as the server would (ADDED or MODIFIED); returns the stored copy."""
        obj = copy.deepcopy(obj)
        info = self._kind(obj["apiVersion"], obj["kind"])
        metadata = obj.setdefault("metadata", {})
        if info["namespaced"]:
            metadata.setdefault("namespace", "default")
        key = self._key(obj)
        existing = self.objects.get(key)
        metadata.setdefault("uid", f"uid-{metadata['name']}")
        metadata.setdefault("creationTimestamp", self.now.isoformat().replace("+00:00", "Z"))
        self.objects[key] = obj
        self._record("MODIFIED" if existing else "ADDED", obj)
        return copy.deepcopy(obj)

    def pod(self, name: str, namespace: str = "default", **status: Any) -> dict[str, Any]:
        """Store a minimal Pod with the given status."""
        return self.put(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"containers": [{"name": "main", "image": "busybox"}]},
                "status": status or {"phase": "Pending"},
            }
        )

    def stored(self, plural: str, name: str, namespace: str = "default") -> dict[str, Any]:
        for (_, p, ns, n), obj in self.objects.items():
            if p == plural and n == name and ns in (namespace, ""):
                return obj
        raise KeyError(name)

    def set_status(self, plural: str, name: str, namespace: str = "default", **status: Any) -> None:
        obj = self.stored(plural, name, namespace)
        obj["status"] = {**obj.get("status", {}), **status}
        self._record("MODIFIED", obj)

    def remove(self, plural: str, name: str, namespace: str = "default") -> None:
        obj = self.stored(plural, name, namespace)
        del self.objects[self._key(obj)]
        self._record("DELETED", obj)

    def compact(self) -> None:
        """Forget the event history: watches from any older resourceVersion get 410."""
        self.compacted_through = self.rv

    # -- HTTP --------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.refuse_connections:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        try:
            return self._route(request)
        except Failure as failure:
            return httpx.Response(failure.body["code"], json=failure.body)

    def _route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path in ("/healthz", "/readyz"):
            return httpx.Response(200, text="ok")
        if path == "/version":
            return httpx.Response(200, json={"version": "0.1.0", "apiVersion": "v1"})
        authorization = request.headers.get("Authorization")
        if self.token is not None and authorization != f"Bearer {self.token}":
            raise Failure(401, "Unauthorized", "missing or invalid bearer token")
        if path == "/api/kinds":
            return httpx.Response(200, json={"kinds": self.kinds})
        parts = [unquote(p) for p in request.url.raw_path.decode().split("?")[0].split("/")[1:]]
        if parts[:2] == ["api", "v1"]:
            api_version, rest = "v1", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            api_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            raise Failure(404, "NotFound", f"the server could not find the path {path}")
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        plural = rest[0] if rest else ""
        info = next(
            (k for k in self.kinds if k["apiVersion"] == api_version and k["plural"] == plural),
            None,
        )
        if info is None:
            raise Failure(404, "NotFound", f"the server could not find the resource {plural}")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3 or (sub is not None and (plural, sub) != ("pods", "log")):
            raise Failure(404, "NotFound", f"the server could not find the path {path}")
        if namespace is not None and not info["namespaced"]:
            raise Failure(404, "NotFound", f"{info['kind']} is not namespaced")
        ns = (namespace or "") if info["namespaced"] else ""
        query = request.url.params
        method = request.method
        if sub == "log":
            return self._logs(ns, str(name), query)
        if name is None:
            if method == "GET" and query.get("watch") == "true":
                return self._watch(info, namespace, query)
            if method == "GET":
                return self._list(info, namespace, query)
            if method == "POST":
                if info["namespaced"] and namespace is None:
                    raise Failure(405, "MethodNotAllowed", "create needs a namespace")
                return self._create(info, ns, json.loads(request.content))
        else:
            if info["namespaced"] and namespace is None:
                raise Failure(404, "NotFound", "namespaced object addressed without a namespace")
            key = (api_version, plural, ns, name)
            if method == "GET":
                return httpx.Response(200, json=self._get(info, key))
            if method == "PUT":
                return self._replace(info, key, json.loads(request.content))
            if method == "PATCH":
                return self._patch(info, key, request)
            if method == "DELETE":
                return self._delete(info, key)
        raise Failure(405, "MethodNotAllowed", f"{method} is not allowed on {path}")

    def _get(self, info: dict[str, Any], key: Key) -> dict[str, Any]:
        obj = self.objects.get(key)
        if obj is None:
            raise Failure(
                404, "NotFound", f'{info["plural"]} "{key[3]}" not found',
                name=key[3], kind=info["plural"],
            )  # fmt: skip
        return obj

    def _matching(
        self, info: dict[str, Any], namespace: str | None, query: httpx.QueryParams
    ) -> list[dict[str, Any]]:
        selector = query.get("labelSelector")
        field = query.get("fieldSelector")
        out = []
        for (api_version, plural, ns, name), obj in sorted(self.objects.items()):
            if (api_version, plural) != (info["apiVersion"], info["plural"]):
                continue
            if namespace is not None and info["namespaced"] and ns != namespace:
                continue
            if selector and not selector_matches(selector, obj["metadata"].get("labels", {})):
                continue
            if field and field != f"metadata.name={name}":
                continue
            out.append(obj)
        return out

    def _list(
        self, info: dict[str, Any], namespace: str | None, query: httpx.QueryParams
    ) -> httpx.Response:
        items = self._matching(info, namespace, query)
        start = int(query.get("continue") or 0)
        limit = int(query["limit"]) if "limit" in query else len(items)
        page = items[start : start + limit]
        metadata: dict[str, Any] = {"resourceVersion": str(self.rv)}
        if start + limit < len(items):
            metadata["continue"] = str(start + limit)
        return httpx.Response(
            200,
            json={
                "apiVersion": info["apiVersion"],
                "kind": f"{info['kind']}List",
                "metadata": metadata,
                "items": page,
            },
        )

    def _watch(
        self, info: dict[str, Any], namespace: str | None, query: httpx.QueryParams
    ) -> httpx.Response:
        hooks, self.on_watch = self.on_watch[:1], self.on_watch[1:]
        since_raw = query.get("resourceVersion")
        lines: list[dict[str, Any]] = []
        if not since_raw:
            lines = [{"type": "ADDED", "object": o} for o in self._matching(info, namespace, query)]
            since = self.rv
        else:
            since = int(since_raw)
        for hook in hooks:
            hook(self)
        if since_raw and since < self.compacted_through:
            gone = status_body(410, "Gone", f"too old resource version: {since}")
            lines = [{"type": "ERROR", "object": gone}]
        else:
            selector = query.get("labelSelector")
            field = query.get("fieldSelector")
            for rv, kind, obj in self.events:
                if rv <= since or obj["apiVersion"] != info["apiVersion"]:
                    continue
                if obj["kind"] != info["kind"]:
                    continue
                meta = obj["metadata"]
                in_namespace = namespace is None or not info["namespaced"]
                if not in_namespace and meta.get("namespace") != namespace:
                    continue
                if selector and not selector_matches(selector, meta.get("labels", {})):
                    continue
                if field and field != f"metadata.name={meta['name']}":
                    continue
                lines.append({"type": kind, "object": obj})
        body = "".join(json.dumps(line) + "\n" for line in lines)
        return httpx.Response(
            200, content=body.encode(), headers={"Content-Type": "application/x-ndjson"}
        )

    def _validate(self, info: dict[str, Any], obj: dict[str, Any]) -> None:
        causes = []
        name = obj["metadata"].get("name", "")
        if not NAME_RE.match(name):
            causes.append({"field": "metadata.name", "reason": "FieldValueInvalid",
                           "message": f"invalid name {name!r}"})  # fmt: skip
        if info["kind"] == "Pod":
            containers = (obj.get("spec") or {}).get("containers") or []
            if not containers:
                causes.append({"field": "spec.containers", "reason": "FieldValueRequired",
                               "message": "at least one container is required"})  # fmt: skip
            for i, c in enumerate(containers):
                if not c.get("image"):
                    causes.append({"field": f"spec.containers[{i}].image",
                                   "reason": "FieldValueRequired",
                                   "message": "image is required"})  # fmt: skip
        if causes:
            raise Failure(
                422, "Invalid", f'{info["kind"]} "{name}" is invalid',
                name=name, kind=info["kind"], causes=causes,
            )  # fmt: skip

    def _create(self, info: dict[str, Any], ns: str, body: dict[str, Any]) -> httpx.Response:
        metadata = body.setdefault("metadata", {})
        if info["namespaced"]:
            if metadata.get("namespace", ns) != ns:
                raise Failure(400, "BadRequest", "the namespace of the object does not match")
            metadata["namespace"] = ns
        if not metadata.get("name") and metadata.get("generateName"):
            self._generated += 1
            metadata["name"] = f"{metadata['generateName']}{self._generated:05d}"
        self._validate(info, body)
        key = (info["apiVersion"], info["plural"], ns, metadata["name"])
        if key in self.objects:
            raise Failure(
                409, "AlreadyExists", f'{info["plural"]} "{metadata["name"]}" already exists',
                name=metadata["name"], kind=info["plural"],
            )  # fmt: skip
        if info["kind"] == "Pod":
            body.setdefault("status", {"phase": "Pending"})
            body["spec"].setdefault("restartPolicy", "Always")
        return httpx.Response(201, json=self.put(body))

    def _replace(self, info: dict[str, Any], key: Key, body: dict[str, Any]) -> httpx.Response:
        current = self._get(info, key)
        sent = body.get("metadata", {}).get("resourceVersion")
        if not sent:
            cause = {"field": "metadata.resourceVersion", "reason": "FieldValueRequired",
                     "message": "required"}  # fmt: skip
            raise Failure(422, "Invalid", "metadata.resourceVersion is required", causes=[cause])
        if sent != current["metadata"]["resourceVersion"]:
            raise Failure(
                409, "Conflict",
                f'Operation cannot be fulfilled on {info["plural"]} "{key[3]}": '
                "the object has been modified; please apply your changes to the latest version",
            )  # fmt: skip
        self._validate(info, body)
        body["metadata"]["uid"] = current["metadata"]["uid"]
        body["metadata"]["creationTimestamp"] = current["metadata"]["creationTimestamp"]
        if "status" in current:
            body["status"] = current["status"]  # status is owned by controllers
        return httpx.Response(200, json=self.put(body))

    def _patch(self, info: dict[str, Any], key: Key, request: httpx.Request) -> httpx.Response:
        if request.headers.get("Content-Type") != "application/merge-patch+json":
            raise Failure(415, "UnsupportedMediaType", "use application/merge-patch+json")
        current = self._get(info, key)
        patched = merge_patch(current, json.loads(request.content))
        self._validate(info, patched)
        return httpx.Response(200, json=self.put(patched))

    def _delete(self, info: dict[str, Any], key: Key) -> httpx.Response:
        current = self._get(info, key)
        if current["metadata"].get("finalizers"):
            current["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:10Z"
            self._record("MODIFIED", current)
            return httpx.Response(202, json=current)
        del self.objects[key]
        self._record("DELETED", current)
        return httpx.Response(200, json=current)

    def _logs(self, ns: str, name: str, query: httpx.QueryParams) -> httpx.Response:
        self._get(next(k for k in self.kinds if k["kind"] == "Pod"), ("v1", "pods", ns, name))
        containers = self.logs.get((ns, name), {})
        container = query.get("container") or next(iter(containers), "main")
        if container not in containers:
            raise Failure(400, "BadRequest", f"container {container} is not valid for pod {name}")
        text = containers[container]
        if "tailLines" in query:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-int(query["tailLines"]) :])
        return httpx.Response(200, text=text, headers={"Content-Type": "text/plain"})
