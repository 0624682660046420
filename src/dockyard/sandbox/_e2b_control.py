"""The E2B control-plane API (the part the SDKs reach through ``E2B_API_URL``): create,
get, list, kill, timeout, pause, connect/resume, metrics, snapshots (create, list, delete,
and create a sandbox from one), fork, volumes (create, list, get, delete; mounted at
create), plus Dockyard's hibernate.

Sandbox feature, HTTP side. Every request carries ``X-API-Key``; its tenant (see `_keys`)
scopes every lookup, so another tenant's sandbox is simply not found. Errors are E2B's JSON
``{"code", "message"}`` with the HTTP status as code.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from dockyard.api.errors import AlreadyExistsError, NotFoundError
from dockyard.sandbox._keys import ApiKeys
from dockyard.sandbox._params import body_field, query_int
from dockyard.sandbox._service import (
    ENVD_VERSION,
    Record,
    SandboxConflict,
    SandboxQuotaExceeded,
    SandboxService,
    SandboxUnavailable,
)
from dockyard.sandbox._snapshots import Snapshot
from dockyard.sandbox._times import to_iso
from dockyard.sandbox._volumes import Volume
from dockyard.sandbox.runtime import DaemonError

#: Paths this router authenticates itself (X-API-Key instead of Dockyard's bearer token).
CONTROL_PREFIXES = ("/sandboxes", "/v2/sandboxes", "/snapshots", "/templates", "/volumes")
_MAX_TIMEOUT_SECONDS = 24 * 3600
_MAX_PAGE = 1000


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
        "startedAt": to_iso(record.started_at),
        "endAt": to_iso(record.end_at),
        "cpuCount": max(1, shape.cpu_millis // 1000),
        "memoryMB": shape.memory_bytes >> 20,
        "diskSizeMB": shape.disk_bytes >> 20,
        "state": "running" if record.phase == "Running" else "paused",
        "metadata": record.metadata,
        "allowInternetAccess": record.network,
    }


def volume_body(volume: Volume, token: bool = False) -> dict[str, Any]:
    """A volume as E2B shows it; with `token`, the bearer token of its content API (no
    ``domain``: clients reach the content API at ``E2B_VOLUME_API_URL``)."""
    body: dict[str, Any] = {"volumeID": volume.volume_id, "name": volume.name}
    if token:
        body["token"] = volume.token
    return body


def snapshot_body(snapshot: Snapshot) -> dict[str, Any]:
    return {"snapshotID": snapshot.snapshot_id, "names": list(snapshot.names)}


def _auto_resume(body: dict[str, Any]) -> bool:
    """E2B's ``autoResume: {"enabled": bool}`` (absent: False)."""
    value = body.get("autoResume")
    if value is None:
        return False
    if not isinstance(value, dict) or not isinstance(value.get("enabled", False), bool):
        raise ValueError('autoResume: must be an object {"enabled": true|false}')
    return bool(value.get("enabled"))


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
        except (SandboxConflict, AlreadyExistsError) as exc:
            return error(409, str(exc.message if isinstance(exc, AlreadyExistsError) else exc))
        except SandboxQuotaExceeded as exc:
            return error(429, str(exc))
        except SandboxUnavailable as exc:
            return error(503, str(exc))
        except DaemonError as exc:  # the sandbox's daemon failed or is gone
            return error(503, f"the sandbox did not answer: {exc}")
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
                auto_resume=_auto_resume(body),
                volume_mounts=body.get("volumeMounts"),
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

    @router.get("/sandboxes/metrics")
    async def many_metrics(request: Request) -> Response:
        """The newest sample of each sandbox in ``sandbox_ids`` (comma-separated)."""

        async def action(tenant: str, body: dict[str, Any]) -> Response:
            ids = [
                i
                for value in request.query_params.getlist("sandbox_ids")
                for i in value.split(",")
                if i
            ]
            latest = service.latest_metrics(tenant, ids)
            return JSONResponse({"sandboxes": {k: m.to_json() for k, m in latest.items()}})

        return await handle(request, action)

    @router.get("/sandboxes/{sandbox_id}/metrics")
    async def metrics(sandbox_id: str, request: Request) -> Response:
        """CPU, memory and disk samples (every 5 s while it runs) between ``start`` and
        ``end``, seconds since the epoch."""

        async def action(tenant: str, body: dict[str, Any]) -> Response:
            start = query_int(request, "start", 0, 1 << 40)
            end = query_int(request, "end", 0, 1 << 40)
            found = await service.metrics(tenant, sandbox_id, start, end)
            return JSONResponse([m.to_json() for m in found])

        return await handle(request, action)

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

    @router.post("/sandboxes/{sandbox_id}/snapshots", status_code=201)
    async def create_snapshot(sandbox_id: str, request: Request) -> Response:
        async def action(tenant: str, body: dict[str, Any]) -> Response:
            snapshot = await service.snapshot(
                tenant,
                sandbox_id,
                name=body_field(body, "name", str, None) or None,
                memory=body_field(body, "memory", bool, True),
            )
            return JSONResponse(snapshot_body(snapshot), status_code=201)

        return await handle(request, action)

    @router.get("/snapshots")
    async def list_snapshots(request: Request) -> Response:
        """Oldest first, ``limit`` a page; ``x-next-token`` says where the next page
        starts (an offset into the list)."""

        async def action(tenant: str, body: dict[str, Any]) -> Response:
            limit = query_int(request, "limit", 1, _MAX_PAGE, 100)
            start = query_int(request, "nextToken", 0, 1 << 31, 0)
            source = request.query_params.get("sandboxID")
            name = request.query_params.get("name")
            found = [
                s
                for s in service.list_snapshots(tenant)
                if (source is None or s.source == source) and (name is None or s.answers_to(name))
            ]
            page = found[start : start + limit]
            headers = {"x-next-token": str(start + limit)} if start + limit < len(found) else {}
            return JSONResponse([snapshot_body(s) for s in page], headers=headers)

        return await handle(request, action)

    @router.delete("/templates/{template_id}", status_code=204)
    async def delete_template(template_id: str, request: Request) -> Response:
        """Deletes snapshots only; SandboxTemplates are managed through Dockyard's API."""

        async def action(tenant: str, body: dict[str, Any]) -> Response:
            if not service.delete_snapshot(tenant, template_id):
                return error(404, f"snapshot {template_id!r} not found")
            return Response(status_code=204)

        return await handle(request, action)

    @router.post("/sandboxes/{sandbox_id}/fork", status_code=201)
    async def fork(sandbox_id: str, request: Request) -> Response:
        async def action(tenant: str, body: dict[str, Any]) -> Response:
            started = await service.fork(
                tenant,
                sandbox_id,
                count=body_field(body, "count", int, 1),
                timeout_seconds=_timeout(body, None),
            )
            results: list[dict[str, Any]] = []
            for item in started:
                if isinstance(item, Record):
                    results.append({"sandbox": created_body(item)})
                else:
                    code = 503 if isinstance(item, SandboxUnavailable) else 500
                    results.append({"error": {"code": code, "message": str(item)}})
            return JSONResponse(results, status_code=201)

        return await handle(request, action)

    @router.post("/volumes", status_code=201)
    async def create_volume(request: Request) -> Response:
        async def action(tenant: str, body: dict[str, Any]) -> Response:
            volume = service.create_volume(tenant, body_field(body, "name", str, ""))
            return JSONResponse(volume_body(volume, token=True), status_code=201)

        return await handle(request, action)

    @router.get("/volumes")
    async def list_volumes(request: Request) -> Response:
        async def action(tenant: str, body: dict[str, Any]) -> Response:
            return JSONResponse([volume_body(v) for v in service.list_volumes(tenant)])

        return await handle(request, action)

    @router.get("/volumes/{volume_id}")
    async def get_volume(volume_id: str, request: Request) -> Response:
        async def action(tenant: str, body: dict[str, Any]) -> Response:
            return JSONResponse(volume_body(service.get_volume(tenant, volume_id), token=True))

        return await handle(request, action)

    @router.delete("/volumes/{volume_id}", status_code=204)
    async def delete_volume(volume_id: str, request: Request) -> Response:
        async def action(tenant: str, body: dict[str, Any]) -> Response:
            if not await service.delete_volume(tenant, volume_id):
                return error(404, f"volume {volume_id!r} not found")
            return Response(status_code=204)

        return await handle(request, action)

    for path in (
        "/sandboxes/{sandbox_id}/connect",
        "/v2/sandboxes/{sandbox_id}/connect",
        "/sandboxes/{sandbox_id}/resume",
    ):
        router.add_api_route(path, connect, methods=["POST"])
    return router
