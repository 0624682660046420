"""The E2B volume content API (what the SDK's ``Volume`` reaches through
``E2B_VOLUME_API_URL``): list and make directories, read and write files, stat, change
owner or mode, and remove, under ``/volumecontent/{volume_id}/``.

Sandbox feature, HTTP side. Every request carries ``Authorization: Bearer <volume token>``;
`resolve(volume_id, token)` maps it to the volume's directory, or None for an unknown
volume or a wrong token, both answered 404 so neither is revealed (a missing header is
401 unless `resolve` accepts no token; a malformed one is 401). The files are handled by
`VolumeFiles`, off the event loop; file bodies stream both ways. Errors are E2B's JSON
``{"code", "message"}``.

Endpoints (query parameters; success status):

- ``GET  dir``   path, depth (default 1): the entries, 200;
- ``POST dir``   path, uid, gid, mode, force (make parents, accept an existing one): 201;
- ``GET  file``  path: the bytes, 200;
- ``PUT  file``  path, uid, gid, mode, force (make parents); body the bytes: 201;
- ``GET  path``  path: the entry, 200;
- ``PATCH path`` path; JSON body ``{uid, gid, mode}`` (each optional): the entry, 200;
- ``DELETE path`` path (a directory with its contents): 204.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from pathlib import Path
from typing import BinaryIO

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.requests import ClientDisconnect

from dockyard.sandbox._params import body_field, query_bool, query_int
from dockyard.sandbox._volume_files import VolumeFileError, VolumeFiles

#: Paths this router authenticates itself (per-volume bearer tokens).
VOLUME_CONTENT_PREFIXES = ("/volumecontent",)

#: Maps (volume id, bearer token or None) to the volume's directory, None when refused.
Resolver = Callable[[str, str | None], Path | None]

#: One endpoint's work once the volume is known.
Action = Callable[[VolumeFiles, Request], Awaitable[Response]]

_CHUNK = 1 << 20
_MAX_INT = 2**32 - 2


def error(status: int, message: str) -> JSONResponse:
    try:
        code = HTTPStatus(status).phrase.lower().replace(" ", "_")
    except ValueError:
        code = str(status)
    return JSONResponse({"code": code, "message": message}, status_code=status)


def _query_path(request: Request) -> str:
    path = request.query_params.get("path")
    if path is None:
        raise VolumeFileError(400, "path: required")
    return path


def _creation(request: Request) -> tuple[str, int | None, int | None, int | None, bool]:
    """The query of a creating request: path, uid, gid, mode, force."""
    return (
        _query_path(request),
        query_int(request, "uid", 0, _MAX_INT),
        query_int(request, "gid", 0, _MAX_INT),
        query_int(request, "mode", 0, _MAX_INT),
        query_bool(request, "force"),
    )


def _bearer(request: Request) -> tuple[bool, str | None]:
    """(well formed, token): no header is (True, None); anything but ``Bearer <token>`` is
    (False, None)."""
    header = request.headers.get("authorization")
    if header is None:
        return True, None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return False, None
    return True, token


def build_volume_content_router(resolve: Resolver) -> APIRouter:
    """The volume content API's routes, each authorised through `resolve`."""
    router = APIRouter(tags=["e2b-volumes"])

    async def handle(request: Request, volume_id: str, action: Action) -> Response:
        well_formed, token = _bearer(request)
        if not well_formed:
            return error(401, "Authorization: must be 'Bearer <volume token>'")
        root = await asyncio.to_thread(resolve, volume_id, token)
        if root is None:
            if token is None:
                return error(401, "Authorization: a volume token is required")
            return error(404, f"volume {volume_id} not found")
        try:
            return await action(VolumeFiles(root), request)
        except VolumeFileError as exc:
            return error(exc.status, exc.message)
        except ValueError as exc:  # a parameter (see _params)
            return error(400, str(exc))

    def route(path: str, method: str, action: Action) -> None:
        async def endpoint(request: Request, volume_id: str) -> Response:
            return await handle(request, volume_id, action)

        endpoint.__name__ = f"volume_{method.lower()}_{path.rsplit('/', 1)[-1]}"
        router.add_api_route(path, endpoint, methods=[method])

    async def list_dir(files: VolumeFiles, request: Request) -> Response:
        depth = query_int(request, "depth", 0, _MAX_INT)
        entries = await asyncio.to_thread(
            files.list_dir, _query_path(request), 1 if depth is None else depth
        )
        return JSONResponse([entry.as_json() for entry in entries])

    async def make_dir(files: VolumeFiles, request: Request) -> Response:
        path, uid, gid, mode, force = _creation(request)
        entry = await asyncio.to_thread(
            lambda: files.make_dir(path, uid=uid, gid=gid, mode=mode, force=force)
        )
        return JSONResponse(entry.as_json(), status_code=201)

    async def read_file(files: VolumeFiles, request: Request) -> Response:
        handle = await asyncio.to_thread(files.open_read, _query_path(request))
        return StreamingResponse(
            _chunks(handle),
            media_type="application/octet-stream",
        )

    async def write_file(files: VolumeFiles, request: Request) -> Response:
        path, uid, gid, mode, force = _creation(request)
        pending = await asyncio.to_thread(
            lambda: files.begin_write(path, uid=uid, gid=gid, mode=mode, force=force)
        )
        try:
            buffer = bytearray()
            async for chunk in request.stream():
                buffer += chunk
                if len(buffer) >= _CHUNK:
                    await asyncio.to_thread(pending.write, bytes(buffer))
                    buffer.clear()
            if buffer:
                await asyncio.to_thread(pending.write, bytes(buffer))
            entry = await asyncio.to_thread(pending.commit)
        except ClientDisconnect:
            await asyncio.to_thread(pending.abort)
            return error(400, "body: the upload was cut off")
        except BaseException:
            await asyncio.shield(asyncio.to_thread(pending.abort))
            raise
        return JSONResponse(entry.as_json(), status_code=201)

    async def stat(files: VolumeFiles, request: Request) -> Response:
        entry = await asyncio.to_thread(files.stat, _query_path(request))
        return JSONResponse(entry.as_json())

    async def update(files: VolumeFiles, request: Request) -> Response:
        path = _query_path(request)
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            raise VolumeFileError(400, "body: must be a JSON object") from None
        if not isinstance(body, dict):
            raise VolumeFileError(400, "body: must be a JSON object")
        uid, gid, mode = (body_field(body, name, int) for name in ("uid", "gid", "mode"))
        entry = await asyncio.to_thread(lambda: files.update(path, uid=uid, gid=gid, mode=mode))
        return JSONResponse(entry.as_json())

    async def remove(files: VolumeFiles, request: Request) -> Response:
        await asyncio.to_thread(files.remove, _query_path(request))
        return Response(status_code=204)

    base = "/volumecontent/{volume_id}"
    route(f"{base}/dir", "GET", list_dir)
    route(f"{base}/dir", "POST", make_dir)
    route(f"{base}/file", "GET", read_file)
    route(f"{base}/file", "PUT", write_file)
    route(f"{base}/path", "GET", stat)
    route(f"{base}/path", "PATCH", update)
    route(f"{base}/path", "DELETE", remove)
    return router


async def _chunks(handle: BinaryIO) -> AsyncIterator[bytes]:
    """`handle`'s bytes, read off the event loop; closed at the end or on disconnect."""
    try:
        while chunk := await asyncio.to_thread(handle.read, _CHUNK):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)
