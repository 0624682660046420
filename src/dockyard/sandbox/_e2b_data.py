"""The E2B data plane (what the SDKs reach through ``E2B_SANDBOX_URL``): envd's process and
filesystem services over Connect, files GET/POST, ``/health``, and the code interpreter's
``/execute`` and ``/contexts``.

Sandbox feature, HTTP side. Each request names its sandbox in ``E2b-Sandbox-Id`` and must
carry that sandbox's access token (``X-Access-Token``, or ``E2B-Traffic-Access-Token``
which the code interpreter SDK sends); anything else is refused before the sandbox is
contacted. Requests are translated into the in-sandbox daemon's protocol; paths are
resolved by the daemon inside the sandbox's own mount namespace, so ``../`` and symlinks
cannot leave it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from dockyard.api.errors import NotFoundError
from dockyard.sandbox._connect import (
    FROM_DAEMON,
    HTTP_STATUS,
    STREAM_CONTENT_TYPE,
    ConnectError,
    end_frame,
    frame,
    parse_json,
    read_envelope,
)
from dockyard.sandbox._keys import token_matches
from dockyard.sandbox._multipart import file_parts
from dockyard.sandbox._service import Record, SandboxConflict, SandboxService, SandboxUnavailable
from dockyard.sandbox.runtime import DaemonClient, DaemonError

#: Paths this router authenticates itself (per-sandbox access tokens).
DATA_PREFIXES = (
    "/health", "/files", "/process.Process", "/filesystem.Filesystem", "/execute", "/contexts",
)  # fmt: skip

_FILE_TYPES = {"file": "FILE_TYPE_FILE", "dir": "FILE_TYPE_DIRECTORY"}
_SIGNALS = {"SIGNAL_SIGKILL": "SIGKILL", "SIGNAL_SIGTERM": "SIGTERM"}


def _entry(info: dict[str, Any]) -> dict[str, Any]:
    modified = datetime.fromtimestamp(float(info.get("modified") or 0), UTC)
    out = {
        "name": info["name"],
        "type": _FILE_TYPES.get(info["type"], "FILE_TYPE_UNSPECIFIED"),
        "path": info["path"],
        "size": str(info.get("size", 0)),
        "mode": info.get("mode", 0),
        "permissions": info.get("permissions", ""),
        "owner": info.get("owner", ""),
        "group": info.get("group", ""),
        "modifiedTime": modified.isoformat().replace("+00:00", "Z"),
    }
    if info.get("symlink_target"):
        out["symlinkTarget"] = info["symlink_target"]
        out["isSymlink"] = True
    return out


def _connect_error(exc: DaemonError) -> ConnectError:
    return ConnectError(FROM_DAEMON.get(exc.code, "internal"), exc.message)


def _unary_error(error: ConnectError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=HTTP_STATUS.get(error.code, 500))


def _selector(message: dict[str, Any]) -> dict[str, Any]:
    process = message.get("process") or {}
    if "pid" in process:
        return {"pid": int(process["pid"])}
    if "tag" in process:
        return {"tag": str(process["tag"])}
    raise ConnectError("invalid_argument", "process selector needs pid or tag")


def _process_events(stream: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    async def frames() -> AsyncIterator[bytes]:
        try:
            async for message in stream:
                if "start" in message:
                    yield frame({"event": {"start": {"pid": message["start"]["pid"]}}})
                elif "stdout" in message or "stderr" in message or "pty" in message:
                    key = next(k for k in ("stdout", "stderr", "pty") if k in message)
                    yield frame({"event": {"data": {key: message[key]}}})
                elif "end" in message:
                    end = message["end"]
                    yield frame(
                        {
                            "event": {
                                "end": {
                                    "exitCode": end["exit_code"],
                                    "exited": end["exited"],
                                    "status": end["status"],
                                }
                            }
                        }
                    )
            yield end_frame()
        except DaemonError as exc:
            yield end_frame(_connect_error(exc))

    return frames()


#: The daemon's event types to envd's ``filesystem.EventType`` names.
_EVENT_TYPES = {
    "create": "EVENT_TYPE_CREATE",
    "write": "EVENT_TYPE_WRITE",
    "remove": "EVENT_TYPE_REMOVE",
    "rename": "EVENT_TYPE_RENAME",
    "chmod": "EVENT_TYPE_CHMOD",
}


def _fs_event(event: dict[str, Any]) -> dict[str, Any]:
    return {"name": event["name"], "type": _EVENT_TYPES[event["type"]]}


def _watch_events(stream: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    """WatchDir's frames: a start event, then one per filesystem event."""

    async def frames() -> AsyncIterator[bytes]:
        try:
            async for message in stream:
                if "start" in message:
                    yield frame({"start": {}})
                elif "event" in message:
                    yield frame({"filesystem": _fs_event(message["event"])})
            yield end_frame()
        except DaemonError as exc:
            yield end_frame(_connect_error(exc))

    return frames()


def build_data_router(service: SandboxService) -> APIRouter:
    router = APIRouter(tags=["e2b-sandbox"], include_in_schema=False)

    async def sandbox_of(request: Request) -> Record:
        """The running sandbox the request names, if its access token matches; a paused or
        hibernated one that asked for it (``autoResume``) is resumed first."""
        sandbox_id = request.headers.get("e2b-sandbox-id")
        if not sandbox_id:
            raise ConnectError("invalid_argument", "missing E2b-Sandbox-Id header")
        record = service.running(sandbox_id)
        token = request.headers.get("x-access-token") or request.headers.get(
            "e2b-traffic-access-token"
        )
        if record is None or not token_matches(record.token, token):
            # Same answer for unknown sandboxes and wrong tokens: ids are not probeable.
            raise ConnectError("unauthenticated", "missing or invalid access token")
        if record.phase != "Running":
            try:
                await service.resume_for_traffic(record)
            except (SandboxConflict, SandboxUnavailable, NotFoundError) as exc:
                raise ConnectError("failed_precondition", str(exc)) from exc
        return record

    @router.get("/health")
    async def health(request: Request) -> Response:
        try:
            record = await sandbox_of(request)
            await record.client.call("health")
        except ConnectError as exc:
            return _unary_error(exc)
        except DaemonError as exc:
            return _unary_error(_connect_error(exc))
        return Response(status_code=204)

    # --- Connect services -------------------------------------------------------------

    async def stream_call(request: Request, make: Any, frames: Any = _process_events) -> Response:
        try:
            record = await sandbox_of(request)
            message = read_envelope(await request.body())
            stream = make(record.client, message)
        except ConnectError as exc:
            return StreamingResponse(
                iter([end_frame(exc)]), media_type=STREAM_CONTENT_TYPE, status_code=200
            )
        return StreamingResponse(frames(stream), media_type=STREAM_CONTENT_TYPE)

    async def unary_call(request: Request, run: Any) -> Response:
        try:
            record = await sandbox_of(request)
            message = parse_json(await request.body())
            result: dict[str, Any] = await run(record.client, message)
        except ConnectError as exc:
            return _unary_error(exc)
        except DaemonError as exc:
            return _unary_error(_connect_error(exc))
        except (KeyError, ValueError, TypeError) as exc:
            return _unary_error(ConnectError("invalid_argument", str(exc)))
        return JSONResponse(result)

    def start(client: DaemonClient, message: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        process = message.get("process") or {}
        if not process.get("cmd"):
            raise ConnectError("invalid_argument", "process.cmd is required")
        # A terminal of the asked size: the command's input and output are then the PTY.
        size = (message.get("pty") or {}).get("size")
        terminal = None if size is None else {"rows": size.get("rows"), "cols": size.get("cols")}
        return client.stream(
            "exec",
            cmd=process["cmd"],
            args=list(process.get("args") or []),
            envs=dict(process.get("envs") or {}),
            cwd=process.get("cwd"),
            stdin=bool(message.get("stdin")),
            tag=message.get("tag"),
            pty=terminal,
        )

    def attach(client: DaemonClient, message: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        return client.stream("attach", **_selector(message))

    async def list_processes(client: DaemonClient, message: dict[str, Any]) -> dict[str, Any]:
        reply = await client.call("list_procs")
        return {
            "processes": [
                {
                    "config": {
                        "cmd": p["cmd"],
                        "args": p["args"],
                        "envs": p["envs"],
                        "cwd": p["cwd"],
                    },
                    "pid": p["pid"],
                    **({"tag": p["tag"]} if p.get("tag") else {}),
                }
                for p in reply["processes"]
            ]
        }

    async def send_signal(client: DaemonClient, message: dict[str, Any]) -> dict[str, Any]:
        signal = _SIGNALS.get(str(message.get("signal")), "SIGTERM")
        await client.call("signal", signal=signal, **_selector(message))
        return {}

    async def send_input(client: DaemonClient, message: dict[str, Any]) -> dict[str, Any]:
        data = (message.get("input") or {}).get("stdin") or (message.get("input") or {}).get("pty")
        await client.call("input", data=data or "", **_selector(message))
        return {}

    async def close_stdin(client: DaemonClient, message: dict[str, Any]) -> dict[str, Any]:
        await client.call("close_stdin", **_selector(message))
        return {}

    async def update(client: DaemonClient, message: dict[str, Any]) -> dict[str, Any]:
        size = (message.get("pty") or {}).get("size")
        if size is not None:  # the only update there is: a terminal's new size
            await client.call(
                "resize", rows=size.get("rows"), cols=size.get("cols"), **_selector(message)
            )
        return {}

    process_unary = {
        "List": list_processes,
        "SendSignal": send_signal,
        "SendInput": send_input,
        "CloseStdin": close_stdin,
        "Update": update,
    }
    process_streams = {"Start": start, "Connect": attach}

    @router.post("/process.Process/{method}")
    async def process_service(method: str, request: Request) -> Response:
        if method in process_streams:
            return await stream_call(request, process_streams[method])
        if method in process_unary:
            return await unary_call(request, process_unary[method])
        return _unary_error(ConnectError("unimplemented", f"process.Process/{method}"))

    async def fs_stat(client: DaemonClient, message: dict[str, Any]) -> dict[str, Any]:
        return {"entry": _entry((await client.call("stat", path=message.get("path")))["entry"])}

    async def fs_list(client: DaemonClient, message: dict[str, Any]) -> dict[str, Any]:
        reply = await client.call(
            "list_dir", path=message.get("path"), depth=message.get("depth") or 1
        )
        return {"entries": [_entry(e) for e in reply["entries"]]}

    async def fs_mkdir(client: DaemonClient, message: dict[str, Any]) -> dict[str, Any]:
        return {"entry": _entry((await client.call("mkdir", path=message.get("path")))["entry"])}

    async def fs_move(client: DaemonClient, message: dict[str, Any]) -> dict[str, Any]:
        reply = await client.call(
            "move", source=message.get("source"), destination=message.get("destination")
        )
        return {"entry": _entry(reply["entry"])}

    async def fs_remove(client: DaemonClient, message: dict[str, Any]) -> dict[str, Any]:
        await client.call("remove", path=message.get("path"))
        return {}

    async def fs_create_watcher(client: DaemonClient, message: dict[str, Any]) -> dict[str, Any]:
        reply = await client.call(
            "watch_create", path=message.get("path"), recursive=bool(message.get("recursive"))
        )
        return {"watcherId": reply["id"]}

    async def fs_watcher_events(client: DaemonClient, message: dict[str, Any]) -> dict[str, Any]:
        reply = await client.call("watch_events", id=message.get("watcherId"))
        return {"events": [_fs_event(e) for e in reply["events"]]}

    async def fs_remove_watcher(client: DaemonClient, message: dict[str, Any]) -> dict[str, Any]:
        await client.call("watch_remove", id=message.get("watcherId"))
        return {}

    def fs_watch(client: DaemonClient, message: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        return client.stream(
            "watch", path=message.get("path"), recursive=bool(message.get("recursive"))
        )

    fs_unary = {
        "Stat": fs_stat,
        "ListDir": fs_list,
        "MakeDir": fs_mkdir,
        "Move": fs_move,
        "Remove": fs_remove,
        "CreateWatcher": fs_create_watcher,
        "GetWatcherEvents": fs_watcher_events,
        "RemoveWatcher": fs_remove_watcher,
    }

    @router.post("/filesystem.Filesystem/{method}")
    async def filesystem_service(method: str, request: Request) -> Response:
        if method == "WatchDir":
            return await stream_call(request, fs_watch, _watch_events)
        if method in fs_unary:
            return await unary_call(request, fs_unary[method])
        return _unary_error(ConnectError("unimplemented", f"filesystem.Filesystem/{method}"))

    # --- files -----------------------------------------------------------------------

    @router.get("/files")
    async def download(request: Request) -> Response:
        try:
            record = await sandbox_of(request)
            path = request.query_params.get("path") or ""
            data = await record.client.read_file(path)
        except ConnectError as exc:
            return _unary_error(exc)
        except DaemonError as exc:
            return _unary_error(_connect_error(exc))
        name = quote(path.rsplit("/", 1)[-1])
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"content-disposition": f"attachment; filename*=UTF-8''{name}"},
        )

    @router.post("/files")
    async def upload(request: Request) -> Response:
        try:
            record = await sandbox_of(request)
            path = request.query_params.get("path")
            uploads: list[tuple[str, bytes]] = []
            content_type = request.headers.get("content-type", "")
            body = await request.body()
            if content_type.startswith("multipart/form-data"):
                try:
                    parts = file_parts(content_type, body)
                except ValueError as exc:
                    raise ConnectError("invalid_argument", str(exc)) from exc
                uploads += [(path or name, data) for name, data in parts]
            else:
                uploads.append((path or "", body))
            if not uploads or not all(target for target, _ in uploads):
                raise ConnectError("invalid_argument", "path is required")
            written = []
            for target, data in uploads:
                info = (await record.client.write_file(target, data))["entry"]
                written.append({"name": info["name"], "type": "file", "path": info["path"]})
        except ConnectError as exc:
            return _unary_error(exc)
        except DaemonError as exc:
            return _unary_error(_connect_error(exc))
        return JSONResponse(written)

    # --- code interpreter ----------------------------------------------------------

    @router.post("/execute")
    async def execute(request: Request) -> Response:
        try:
            record = await sandbox_of(request)
            body = parse_json(await request.body())
        except ConnectError as exc:
            return _unary_error(exc)
        stream = record.client.stream(
            "execute",
            code=str(body.get("code") or ""),
            context_id=body.get("context_id"),
            language=body.get("language"),
            env_vars=body.get("env_vars") or {},
        )

        async def lines() -> AsyncIterator[bytes]:
            try:
                async for message in stream:
                    event = {k: v for k, v in message.items() if k != "final"}
                    yield (json.dumps(event) + "\n").encode()
            except DaemonError as exc:
                error = {
                    "type": "error",
                    "name": "SandboxError",
                    "value": exc.message,
                    "traceback": "",
                }
                yield (json.dumps(error) + "\n").encode()

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def context_call(request: Request, op: str, **fields: Any) -> Response:
        try:
            record = await sandbox_of(request)
            reply = await record.client.call(op, **fields)
        except ConnectError as exc:
            return _unary_error(exc)
        except DaemonError as exc:
            return _unary_error(_connect_error(exc))
        if "context" in reply:
            return JSONResponse(reply["context"])
        if "contexts" in reply:
            return JSONResponse(reply["contexts"])
        return Response(status_code=204)

    @router.post("/contexts")
    async def create_context(request: Request) -> Response:
        body = parse_json(await request.body())
        return await context_call(
            request, "context_create", cwd=body.get("cwd"), language=body.get("language")
        )

    @router.get("/contexts")
    async def list_contexts(request: Request) -> Response:
        return await context_call(request, "context_list")

    @router.delete("/contexts/{context_id}")
    async def delete_context(context_id: str, request: Request) -> Response:
        return await context_call(request, "context_delete", id=context_id)

    @router.post("/contexts/{context_id}/restart")
    async def restart_context(context_id: str, request: Request) -> Response:
        return await context_call(request, "context_restart", id=context_id)

    return router


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
