"""The FastAPI application: health, version, discovery, metrics and every kind's REST API,
behind bearer-token authentication and with Kubernetes-style ``Status`` errors."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dockyard._version import __version__
from dockyard.api import REGISTRY
from dockyard.api.errors import (
    ApiError,
    BadRequestError,
    FieldCause,
    NotFoundError,
    UnauthorizedError,
)
from dockyard.server.auth import PUBLIC_PATHS
from dockyard.server.controlplane import ControlPlane
from dockyard.server.metrics import ControlPlaneMetrics
from dockyard.server.objects_api import build_routers

log = logging.getLogger("dockyard.server")
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def create_app(cp: ControlPlane) -> Any:
    """The ASGI application for ``cp``; starting it (lifespan) starts the control plane."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await cp.start()
        try:
            yield
        finally:
            await cp.stop()

    app = FastAPI(
        title="Dockyard",
        version=__version__,
        description="The Dockyard control plane API (Kubernetes-style objects).",
        lifespan=lifespan,
    )
    metrics = ControlPlaneMetrics(cp)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return JSONResponse(exc.to_status(), status_code=exc.code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Routing failures (no route, wrong method) answer with the same Status body as
        # every other API error; e.g. '..%2F' decodes into segments no route serves.
        body = NotFoundError(f"the server could not find {request.url.path}").to_status()
        if exc.status_code != 404:
            phrase = HTTPStatus(exc.status_code).phrase
            body.update(
                reason=phrase.replace(" ", ""), message=str(exc.detail), code=exc.status_code
            )
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> Response:
        causes = [FieldCause(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
        error = BadRequestError("invalid request", causes=causes)
        return JSONResponse(error.to_status(), status_code=400)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error serving %s %s", request.method, request.url.path)
        error = ApiError(f"internal error: {type(exc).__name__}: {exc}")
        return JSONResponse(error.to_status(), status_code=500)

    @app.get("/healthz", tags=["health"], response_class=PlainTextResponse)
    async def healthz() -> str:
        return "ok"

    @app.get("/livez", tags=["health"], response_class=PlainTextResponse)
    async def livez() -> str:
        return "ok"

    @app.get("/readyz", tags=["health"], response_class=PlainTextResponse)
    async def readyz(response: Response) -> str:
        if not cp.ready:
            response.status_code = 503
            return "starting"
        return "ok"

    @app.get("/version", tags=["health"])
    async def version() -> dict[str, Any]:
        return {"version": __version__, "platform": "dockyard", "apiVersions": ["v1"]}

    @app.get("/metrics", tags=["health"])
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/api/kinds", tags=["discovery"])
    async def kinds() -> dict[str, Any]:
        return {"kinds": [k.discovery() for k in REGISTRY.all()]}

    @app.get("/api", tags=["discovery"])
    async def core_versions() -> dict[str, Any]:
        return {"kind": "APIVersions", "versions": ["v1"]}

    # Namespaced object routes first (most traffic, no overlap with any extension), then
    # extension routes, then the cluster-scoped object routes: compatibility APIs such as
    # Argo's /api/v1/workflows/{ns} share the shape of /api/v1/{plural}/{name} and must win.
    namespaced, cluster = build_routers(cp)
    app.include_router(namespaced)
    for router in cp.routers:
        app.include_router(router)
    app.include_router(cluster)

    return metrics.middleware(_auth_middleware(cp, app))


def _auth_middleware(cp: ControlPlane, app: Any) -> Any:
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] not in PUBLIC_PATHS
            and not cp.authenticates_itself(scope["path"])
        ):
            headers = dict(scope.get("headers") or [])
            raw = headers.get(b"authorization")
            subject = cp.auth.authenticate(raw.decode("latin-1") if raw else None)
            if subject is None:
                error = UnauthorizedError(
                    "missing or invalid bearer token (see <data-dir>/token or DOCKYARD_TOKEN)"
                )
                body = json.dumps(error.to_status()).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b"Bearer"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
            scope.setdefault("state", {})["subject"] = subject
        await app(scope, receive, send)

    return wrapped
