"""The E2B control-plane API (the part the SDKs reach through ``E2B_API_URL``): create,
get, list, kill, timeout, pause, connect/resume, plus Dockyard's hibernate.

Sandbox feature, HTTP side. Every request carries ``X-API-Key``; its tenant (see `_keys`)
scopes every lookup, so another tenant's sandbox is simply not found. Errors are E2B's JSON
``{"code", "message"}`` with the HTTP status as code.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from dockyard.api.errors import NotFoundError
from dockyard.sandbox._keys import ApiKeys
from dockyard.sandbox._service import (
    ENVD_VERSION,
    Record,
    SandboxConflict,
    SandboxService,
    SandboxUnavailable,
    _iso,
)

#: Paths this router authenticates itself (X-API-Key instead of Dockyard's bearer token).
CONTROL_PREFIXES = ("/sandboxes", "/v2/sandboxes")
_MAX_TIMEOUT_SECONDS = 24 * 3600


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"code": status, "message": message}, status_code=status)


def created_body(record: Record) -> dict[str, Any]:
    return {
        "templateID": record.shape.template,
        "sandboxID": record.sandbox_id,
        "clientID": "dockyard",
        "envdVersion": ENVD_VERSION,
        "envdAccessToken": record.token,
        "trafficAccessToken": record.token,
        "domain": None,
        "alias": record.shape.template,
    }


def detail_body(record: Record) -> dict[str, Any]:
    shape = record.shape
    return {
        **created_body(record),
        "startedAt": _iso(record.started_at),
        "endAt": _iso(record.end_at),
        "cpuCount": max(1, shape.cpu_millis // 1000),
        "memoryMB": shape.memory_bytes >> 20,
        "diskSizeMB": shape.disk_bytes >> 20,
        "state": "running" if record.phase == "Running" else "paused",
        "metadata": record.metadata,
        "allowInternetAccess": record.network,
    }


def _timeout(body: dict[str, Any], default: int | None) -> int | None:
    value = body.get("timeout", default)
    if value is None:
        return None
    seconds = int(value)
    if seconds <= 0 or seconds > _MAX_TIMEOUT_SECONDS:
        raise ValueError(f"timeout must be between 1 and {_MAX_TIMEOUT_SECONDS} seconds")
    return seconds


def build_control_router(service: SandboxService, keys: ApiKeys) -> APIRouter:
    router = APIRouter(tags=["e2b"])

    async def handle(request: Request, action: Any) -> Response:
        tenant = keys.tenant(request.headers.get("x-api-key"))
        if tenant is None:
            return error(401, "missing or invalid X-API-Key")
        try:
            body: dict[str, Any] = {}
            if request.method == "POST" and await request.body():
                body = await request.json()
                if not isinstance(body, dict):
                    return error(400, "request body must be a JSON object")
            result: Response = await action(tenant, body)
            return result
        except NotFoundError as exc:
            return error(404, str(exc.message if hasattr(exc, "message") else exc))
        except SandboxConflict as exc:
            return error(409, str(exc))
        except SandboxUnavailable as exc:
            return error(503, str(exc))
        except (ValueError, TypeError) as exc:
            return error(400, str(exc))

    async def create(request: Request) -> Response:
        async def action(tenant: str, body: dict[str, Any]) -> Response:
            metadata = body.get("metadata") or {}
            env = body.get("envVars") or {}
            if not isinstance(metadata, dict) or not isinstance(env, dict):
                raise ValueError("metadata and envVars must be objects of strings")
            record = await service.create(
                tenant,
                str(body.get("templateID") or "base"),
                timeout_seconds=_timeout(body, None),
                env={str(k): str(v) for k, v in env.items()},
                metadata={str(k): str(v) for k, v in metadata.items()},
                allow_internet_access=body.get("allow_internet_access"),
                auto_pause=body.get("autoPause"),
            )
            return JSONResponse(created_body(record), status_code=201)

        return await handle(request, action)

    router.add_api_route("/sandboxes", create, methods=["POST"], status_code=201)
    router.add_api_route("/v2/sandboxes", create, methods=["POST"], status_code=201)

    async def listing(request: Request) -> Response:
        async def action(tenant: str, body: dict[str, Any]) -> Response:
            states = set(request.query_params.getlist("state") or [])
            states = {s for value in states for s in value.split(",") if s}
            items = [detail_body(r) for r in service.list(tenant)]
            if states:
                items = [i for i in items if i["state"] in states]
            return JSONResponse(items)

        return await handle(request, action)

    router.add_api_route("/sandboxes", listing, methods=["GET"])
    router.add_api_route("/v2/sandboxes", listing, methods=["GET"])

    @router.get("/sandboxes/{sandbox_id}")
    async def get(sandbox_id: str, request: Request) -> Response:
        async def action(tenant: str, body: dict[str, Any]) -> Response:
            return JSONResponse(detail_body(service.get(tenant, sandbox_id)))

        return await handle(request, action)

    @router.delete("/sandboxes/{sandbox_id}", status_code=204)
    async def kill(sandbox_id: str, request: Request) -> Response:
        async def action(tenant: str, body: dict[str, Any]) -> Response:
            await service.kill(tenant, sandbox_id)
            return Response(status_code=204)

        return await handle(request, action)

    @router.post("/sandboxes/{sandbox_id}/timeout", status_code=204)
    async def timeout(sandbox_id: str, request: Request) -> Response:
        async def action(tenant: str, body: dict[str, Any]) -> Response:
            seconds = _timeout(body, None)
            if seconds is None:
                raise ValueError("timeout is required")
            service.set_timeout(tenant, sandbox_id, seconds)
            return Response(status_code=204)

        return await handle(request, action)

    @router.post("/sandboxes/{sandbox_id}/pause", status_code=204)
    async def pause(sandbox_id: str, request: Request) -> Response:
        async def action(tenant: str, body: dict[str, Any]) -> Response:
            await service.pause(tenant, sandbox_id)
            return Response(status_code=204)

        return await handle(request, action)

    @router.post("/sandboxes/{sandbox_id}/hibernate")
    async def hibernate(sandbox_id: str, request: Request) -> Response:
        async def action(tenant: str, body: dict[str, Any]) -> Response:
            unsaved = await service.hibernate(tenant, sandbox_id)
            return JSONResponse(
                {"sandboxID": sandbox_id, "state": "hibernated", "unsaved": unsaved}
            )

        return await handle(request, action)

    async def connect(sandbox_id: str, request: Request) -> Response:
        async def action(tenant: str, body: dict[str, Any]) -> Response:
            resumed = await service.resume(tenant, sandbox_id, _timeout(body, None))
            record = service.get(tenant, sandbox_id)
            return JSONResponse(detail_body(record), status_code=201 if resumed else 200)

        return await handle(request, action)

    for path in (
        "/sandboxes/{sandbox_id}/connect",
        "/v2/sandboxes/{sandbox_id}/connect",
        "/sandboxes/{sandbox_id}/resume",
    ):
        router.add_api_route(path, connect, methods=["POST"])
    return router
