"""The Argo Server REST API (the subset Hera and the argo CLI use), on the Dockyard server.

Workflows layer. Routes under ``/api/v1``: workflows (create, get, list, delete, lint,
submit, stop, terminate, suspend, resume, retry, resubmit, logs), workflow templates,
cluster workflow templates, cron workflows, version and info. Request and reply bodies
are Argo's (``{"workflow": {...}}`` in, the stored object out); errors are
``{"code": <gRPC code>, "message": ...}`` with the matching HTTP status. Every handler is
``async`` so it runs on the control plane's event loop, between reconciles.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from dockyard.api import REGISTRY, validate_object
from dockyard.api.errors import ApiError, BadRequestError, FieldCause, InvalidError
from dockyard.api.labels import parse_selector
from dockyard.node.paths import pods_root
from dockyard.store import ObjectStore
from dockyard.workflows._compressed import inflate
from dockyard.workflows._kinds import (
    CLUSTER_WORKFLOW_TEMPLATE,
    CRON_WORKFLOW,
    GROUP_VERSION,
    WORKFLOW,
    WORKFLOW_TEMPLATE,
)
from dockyard.workflows._lifecycle import (
    resubmit_workflow,
    resume_workflow,
    retry_workflow,
    set_shutdown,
    set_suspend,
    workflow_from_template,
)
from dockyard.workflows._lint import lint_workflow
from dockyard.workflows._nodes import pod_name

ARGO_VERSION = "v3.6.0+dockyard"
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 410: 9, 422: 3, 500: 13, 501: 12}
Handler = Callable[..., Awaitable[Any]]


def error_response(exc: ApiError) -> JSONResponse:
    status = int(getattr(exc, "code", 500) or 500)
    if status == 422:
        status = 400
    message = str(exc)
    causes = getattr(exc, "causes", None) or []
    if causes:
        message += ": " + "; ".join(f"{c.field}: {c.message}" for c in causes)
    return JSONResponse(
        {"code": _GRPC_CODES.get(status, 2), "message": message}, status_code=status
    )


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadRequestError(f"request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequestError("request body must be a JSON object")
    return body


def _fields(obj: dict[str, Any], fields: str | None) -> dict[str, Any]:
    """Argo's ``fields`` filter: comma-separated dotted paths to keep (``-`` to drop)."""
    if not fields:
        return obj
    specs = [f.strip() for f in fields.split(",") if f.strip()]
    if specs and all(s.startswith("-") for s in specs):
        out = copy.deepcopy(obj)
        for spec in specs:
            _drop(out, spec[1:].split("."))
        return out
    tree: dict[str, Any] = {}
    for spec in specs:
        branch = tree
        parts = spec.lstrip("-").split(".")
        for part in parts[:-1]:
            child = branch.setdefault(part, {})
            if child is None:  # a shorter path already keeps all of it
                break
            branch = child
        else:
            branch[parts[-1]] = None
    kept = _keep(obj, tree)
    return kept if isinstance(kept, dict) else {}


def _keep(src: Any, tree: dict[str, Any] | None) -> Any:
    """The parts of ``src`` that ``tree`` names (None: all of it); lists are mapped."""
    if tree is None:
        return src
    if isinstance(src, list):
        return [_keep(item, tree) for item in src]
    if not isinstance(src, dict):
        return None
    out: dict[str, Any] = {}
    for key, sub in tree.items():
        if key in src:
            value = _keep(src[key], sub)
            if value is not None or sub is None:
                out[key] = value
    return out


def _drop(obj: Any, path: list[str]) -> None:
    if isinstance(obj, list):
        for item in obj:
            _drop(item, path)
    elif isinstance(obj, dict) and path[0] in obj:
        if len(path) == 1:
            obj.pop(path[0])
        else:
            _drop(obj[path[0]], path[1:])


class ArgoApi:
    def __init__(self, store: ObjectStore, data_dir: Path) -> None:
        self.store = store
        self.data_dir = Path(data_dir)

    # -- objects ---------------------------------------------------------------------
    def create(self, kind_key: str, namespace: str, obj: Any, field: str) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise InvalidError(f"{field} is required", causes=[FieldCause(field, "is required")])
        info = REGISTRY.get(GROUP_VERSION, kind_key.rpartition("/")[2])
        obj = {**obj, "apiVersion": GROUP_VERSION, "kind": info.kind}
        meta = dict(obj.get("metadata") or {})
        if info.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        for key in ("uid", "resourceVersion", "creationTimestamp", "generation"):
            meta.pop(key, None)
        obj["metadata"] = meta
        obj.pop("status", None)
        if info.namespaced:
            self._ensure_namespace(namespace)
        normalized = validate_object(info, obj).to_dict()
        if kind_key == WORKFLOW:
            lint_workflow(normalized, self.store)
            normalized["status"] = {"phase": "Running"}
        return self.store.create(kind_key, normalized)

    def _ensure_namespace(self, namespace: str) -> None:
        # Argo clients name their namespace freely (Hera's examples use "argo"): create it.
        if self.store.try_get("v1/Namespace", "", namespace) is None:
            with contextlib.suppress(ApiError):
                self.store.create(
                    "v1/Namespace",
                    {
                        "apiVersion": "v1",
                        "kind": "Namespace",
                        "metadata": {"name": namespace},
                        "spec": {},
                        "status": {"phase": "Active"},
                    },
                )

    def update(
        self, kind_key: str, namespace: str, name: str, obj: Any, field: str
    ) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise InvalidError(f"{field} is required", causes=[FieldCause(field, "is required")])
        info = REGISTRY.get(GROUP_VERSION, kind_key.rpartition("/")[2])
        current = self.store.get(kind_key, namespace, name)
        obj = {**obj, "apiVersion": GROUP_VERSION, "kind": info.kind}
        meta = {**current["metadata"], **(obj.get("metadata") or {})}
        meta["name"] = name
        obj["metadata"] = meta
        if "status" in current:
            obj["status"] = current["status"]
        normalized = validate_object(info, obj).to_dict()
        return self.store.update(kind_key, normalized)

    def list(self, kind_key: str, namespace: str | None, request: Request) -> dict[str, Any]:
        params = request.query_params
        selector = parse_selector(params.get("listOptions.labelSelector"))
        items, rv = self.store.list(kind_key, namespace, selector)
        if kind_key == WORKFLOW:
            items = [inflate(item) for item in items]
        items.sort(key=lambda o: o["metadata"].get("creationTimestamp", ""), reverse=True)
        limit = params.get("listOptions.limit")
        remaining = 0
        if limit and limit.isdigit() and int(limit) > 0:
            remaining = max(0, len(items) - int(limit))
            items = items[: int(limit)]
        listing: dict[str, Any] = {
            "metadata": {"resourceVersion": str(rv)},
            "items": items,
        }
        if remaining:
            listing["metadata"]["remainingItemCount"] = remaining
        return _fields(listing, params.get("fields"))

    # -- logs --------------------------------------------------------------------------
    async def logs(
        self, namespace: str, name: str, pod: str | None, request: Request
    ) -> AsyncIterator[bytes]:
        workflow = inflate(self.store.get(WORKFLOW, namespace, name))
        container = request.query_params.get("logOptions.container") or "main"
        grep = request.query_params.get("grep")
        wf_name = workflow["metadata"]["name"]
        pods: list[str] = []
        for node in (workflow.get("status") or {}).get("nodes", {}).values():
            if node.get("type") == "Pod":
                pods.append(pod_name(wf_name, node.get("templateName", ""), node["name"]))
        if pod:
            pods = [p for p in pods if p == pod] or [pod]
        root = pods_root(self.data_dir)
        for name_ in pods:
            obj = self.store.try_get("v1/Pod", namespace, name_)
            if obj is None:
                continue
            path = root / obj["metadata"]["uid"] / "logs" / f"{container}.log"
            with contextlib.suppress(OSError):
                for line in path.read_text(errors="replace").splitlines():
                    if grep and grep not in line:
                        continue
                    entry = {"result": {"content": line, "podName": name_}}
                    yield (json.dumps(entry) + "\n").encode()


def build_router(
    store: ObjectStore,
    data_dir: Path,
    controller_stats: Callable[[], dict[str, int]],
) -> APIRouter:
    """The Argo routes, and Dockyard's own ``GET /api/v1/workflow-controller/stats``
    answered by ``controller_stats`` (queue figures, see WorkflowReconciler)."""
    api = ArgoApi(store, data_dir)
    router = APIRouter(prefix="/api/v1", tags=["argo"])

    def guarded(handler: Handler) -> Handler:
        async def run(*args: Any, **kwargs: Any) -> Any:
            try:
                result = await handler(*args, **kwargs)
            except ApiError as exc:
                return error_response(exc)
            if isinstance(result, Response):
                return result
            return JSONResponse(result)

        return functools.wraps(handler)(run)

    @router.get("/version")
    async def version() -> Any:
        return {
            "version": ARGO_VERSION,
            "buildDate": "",
            "gitCommit": "",
            "gitTag": ARGO_VERSION,
            "gitTreeState": "clean",
            "goVersion": "",
            "compiler": "dockyard",
            "platform": "linux",
        }

    @router.get("/info")
    async def info() -> Any:
        return {"managedNamespace": "", "links": [], "modals": {}, "navColor": "", "columns": []}

    @router.get("/userinfo")
    async def userinfo() -> Any:
        return {"subject": "dockyard"}

    @router.get("/workflow-controller/stats")
    async def stats() -> Any:
        return controller_stats()

    # -- workflows -----------------------------------------------------------------------
    @router.post("/workflows/{namespace}")
    @guarded
    async def create_workflow(namespace: str, request: Request) -> Any:
        body = await _body(request)
        if body.get("serverDryRun"):
            return await lint(namespace, body)
        return api.create(WORKFLOW, namespace, body.get("workflow"), "workflow")

    async def lint(namespace: str, body: dict[str, Any]) -> Any:
        obj = body.get("workflow")
        if not isinstance(obj, dict):
            raise InvalidError(
                "workflow is required", causes=[FieldCause("workflow", "is required")]
            )
        obj = {**obj, "apiVersion": GROUP_VERSION, "kind": "Workflow"}
        obj["metadata"] = {**(obj.get("metadata") or {}), "namespace": namespace}
        normalized = validate_object(REGISTRY.get(GROUP_VERSION, "Workflow"), obj).to_dict()
        lint_workflow(normalized, store)
        return normalized

    @router.post("/workflows/{namespace}/lint")
    @guarded
    async def lint_route(namespace: str, request: Request) -> Any:
        return await lint(namespace, await _body(request))

    @router.post("/workflows/{namespace}/submit")
    @guarded
    async def submit(namespace: str, request: Request) -> Any:
        body = await _body(request)
        workflow = workflow_from_template(
            store,
            namespace,
            str(body.get("resourceKind", "")),
            str(body.get("resourceName", "")),
            body.get("submitOptions") or {},
        )
        return api.create(WORKFLOW, namespace, workflow, "workflow")

    @router.get("/workflows/{namespace}")
    @guarded
    async def list_workflows(namespace: str, request: Request) -> Any:
        return api.list(WORKFLOW, namespace or None, request)

    @router.get("/workflows/{namespace}/{name}")
    @guarded
    async def get_workflow(namespace: str, name: str, request: Request) -> Any:
        workflow = inflate(store.get(WORKFLOW, namespace, name))
        return _fields(workflow, request.query_params.get("fields"))

    @router.delete("/workflows/{namespace}/{name}")
    @guarded
    async def delete_workflow(namespace: str, name: str) -> Any:
        store.delete(WORKFLOW, namespace, name)
        return {}

    def verb(action: Callable[[ObjectStore, str, str, dict[str, Any]], dict[str, Any]]) -> Handler:
        async def handler(namespace: str, name: str, request: Request) -> Any:
            return action(store, namespace, name, await _body(request))

        return handler

    for path, action in (
        ("stop", lambda s, ns, n, b: set_shutdown(s, ns, n, "Stop")),
        ("terminate", lambda s, ns, n, b: set_shutdown(s, ns, n, "Terminate")),
        ("suspend", lambda s, ns, n, b: set_suspend(s, ns, n, True)),
        ("resume", lambda s, ns, n, b: resume_workflow(s, ns, n, b.get("nodeFieldSelector"))),
        ("retry", lambda s, ns, n, b: retry_workflow(s, ns, n, b)),
        ("resubmit", lambda s, ns, n, b: resubmit_workflow(s, ns, n, b)),
    ):
        router.add_api_route(
            f"/workflows/{{namespace}}/{{name}}/{path}",
            guarded(verb(action)),
            methods=["PUT"],
            name=f"{path}_workflow",
        )

    @router.get("/workflows/{namespace}/{name}/log")
    @guarded
    async def workflow_logs(namespace: str, name: str, request: Request) -> Any:
        store.get(WORKFLOW, namespace, name)
        return StreamingResponse(
            api.logs(namespace, name, request.query_params.get("podName"), request),
            media_type="application/json",
        )

    @router.get("/workflows/{namespace}/{name}/{pod}/log")
    @guarded
    async def pod_logs(namespace: str, name: str, pod: str, request: Request) -> Any:
        store.get(WORKFLOW, namespace, name)
        return StreamingResponse(
            api.logs(namespace, name, pod, request), media_type="application/json"
        )

    # -- templates and cron workflows -----------------------------------------------------
    def crud(prefix: str, kind_key: str, field: str, namespaced: bool) -> None:
        ns_path = "/{namespace}" if namespaced else ""

        async def create(request: Request, namespace: str = "") -> Any:
            body = await _body(request)
            return api.create(kind_key, namespace, body.get(field), field)

        async def list_(request: Request, namespace: str = "") -> Any:
            return api.list(kind_key, namespace if namespaced else "", request)

        async def get(name: str, namespace: str = "") -> Any:
            return store.get(kind_key, namespace, name)

        async def update(name: str, request: Request, namespace: str = "") -> Any:
            body = await _body(request)
            return api.update(kind_key, namespace, name, body.get(field), field)

        async def delete(name: str, namespace: str = "") -> Any:
            store.delete(kind_key, namespace, name)
            return {}

        async def lint_(request: Request, namespace: str = "") -> Any:
            body = await _body(request)
            obj = body.get(field)
            if not isinstance(obj, dict):
                raise InvalidError(
                    f"{field} is required", causes=[FieldCause(field, "is required")]
                )
            info = REGISTRY.get(GROUP_VERSION, kind_key.rpartition("/")[2])
            return validate_object(
                info, {**obj, "apiVersion": GROUP_VERSION, "kind": info.kind}
            ).to_dict()

        base = f"/{prefix}{ns_path}"
        router.add_api_route(base, guarded(create), methods=["POST"], name=f"create_{prefix}")
        router.add_api_route(base, guarded(list_), methods=["GET"], name=f"list_{prefix}")
        router.add_api_route(
            f"{base}/lint", guarded(lint_), methods=["POST"], name=f"lint_{prefix}"
        )
        router.add_api_route(
            f"{base}/{{name}}", guarded(get), methods=["GET"], name=f"get_{prefix}"
        )
        router.add_api_route(
            f"{base}/{{name}}", guarded(update), methods=["PUT"], name=f"update_{prefix}"
        )
        router.add_api_route(
            f"{base}/{{name}}", guarded(delete), methods=["DELETE"], name=f"delete_{prefix}"
        )

    crud("workflow-templates", WORKFLOW_TEMPLATE, "template", True)
    crud("cluster-workflow-templates", CLUSTER_WORKFLOW_TEMPLATE, "template", False)
    crud("cron-workflows", CRON_WORKFLOW, "cronWorkflow", True)

    async def cron_suspend(namespace: str, name: str, suspend: bool) -> Any:
        def change(obj: dict[str, Any]) -> None:
            obj["spec"]["suspend"] = suspend

        return store.mutate(CRON_WORKFLOW, namespace, name, change)

    @router.put("/cron-workflows/{namespace}/{name}/suspend")
    @guarded
    async def suspend_cron(namespace: str, name: str) -> Any:
        return await cron_suspend(namespace, name, True)

    @router.put("/cron-workflows/{namespace}/{name}/resume")
    @guarded
    async def resume_cron(namespace: str, name: str) -> Any:
        return await cron_suspend(namespace, name, False)

    return router
