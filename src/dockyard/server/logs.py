"""Pod logs over HTTP: ``GET .../pods/{name}/log[?container=C&follow=true&tailLines=N]``.

Logs are the files the sandbox writes (one per container). ``follow`` streams new bytes
as they are written and ends once the Pod is terminal and the file is drained.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from dockyard.api.core import POD_TERMINAL_PHASES
from dockyard.api.errors import BadRequestError, FieldCause
from dockyard.server.objects_api import check_path_name

if TYPE_CHECKING:
    from dockyard.server.controlplane import ControlPlane

POD = "v1/Pod"
FOLLOW_POLL_SECONDS = 0.1
CHUNK = 64 * 1024


def _tail(data: bytes, lines: int) -> bytes:
    if lines <= 0:
        return b""
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:])


class PodLogs:
    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp

    def _container(self, pod: dict[str, Any], wanted: str | None) -> str:
        spec = pod["spec"]
        names = [c["name"] for c in [*(spec.get("initContainers") or []), *spec["containers"]]]
        if wanted:
            if wanted not in names:
                raise BadRequestError(
                    f"container {wanted} is not valid for pod {pod['metadata']['name']}",
                    causes=[FieldCause("container", f"choose one of: {', '.join(names)}")],
                )
            return wanted
        if len(spec["containers"]) > 1:
            raise BadRequestError(
                f"a container name must be specified for pod {pod['metadata']['name']}, "
                f"choose one of: {', '.join(names)}",
                causes=[FieldCause("container", "is required for a Pod with several containers")],
            )
        return str(spec["containers"][0]["name"])

    async def read(self, namespace: str, name: str, request: Request) -> Response:
        check_path_name(name)
        pod = self.cp.store.get(POD, namespace, name)
        params = request.query_params
        container = self._container(pod, params.get("container"))
        path = self.cp.agent.log_path(pod, container)
        tail = params.get("tailLines")
        tail_lines = int(tail) if tail and tail.lstrip("-").isdigit() else None
        follow = params.get("follow") in ("true", "1", "True")
        if not follow:
            data = path.read_bytes() if path.exists() else b""
            if tail_lines is not None:
                data = _tail(data, tail_lines)
            return Response(content=data, media_type="text/plain")
        return StreamingResponse(self._follow(pod, path, tail_lines), media_type="text/plain")

    async def _follow(
        self, pod: dict[str, Any], path: Path, tail_lines: int | None
    ) -> AsyncIterator[bytes]:
        namespace, name, uid = (
            pod["metadata"]["namespace"],
            pod["metadata"]["name"],
            pod["metadata"]["uid"],
        )
        offset = 0
        if tail_lines is not None and path.exists():
            data = path.read_bytes()
            offset = len(data)
            yield _tail(data, tail_lines)
        while True:
            current = self.cp.store.try_get(POD, namespace, name)
            finished = (
                current is None
                or current["metadata"]["uid"] != uid
                or (current.get("status") or {}).get("phase") in POD_TERMINAL_PHASES
            )
            if path.exists():
                with path.open("rb") as handle:
                    handle.seek(offset)
                    while chunk := handle.read(CHUNK):
                        offset += len(chunk)
                        yield chunk
            if finished:
                return
            await asyncio.sleep(FOLLOW_POLL_SECONDS)
