"""Large ``status.nodes`` stored compressed, as Argo's ``status.compressedNodes``.

Workflows layer, leaf module. A workflow with thousands of nodes would make every status
write (and every watch event and event-log row) megabytes long. When the node map's JSON
exceeds :data:`COMPRESS_ABOVE` bytes, the stored object carries
``status.compressedNodes`` — base64 of the gzipped JSON, Argo's encoding — instead of
``status.nodes``. The controller and the Argo API inflate it on every read, so Hera, the
CLI and the Argo routes always see ordinary ``nodes``; only the raw object (the Dockyard
objects API, ``dockyard get -o json``) shows the compressed form, as ``kubectl`` does for
an Argo workflow.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

COMPRESS_ABOVE = 256 * 1024
FIELD = "compressedNodes"


def pack_status(status: dict[str, Any]) -> dict[str, Any]:
    """``status`` as it is stored: nodes compressed when they are large."""
    nodes = status.get("nodes")
    if not nodes:
        return status
    text = json.dumps(nodes, separators=(",", ":"))
    if len(text) <= COMPRESS_ABOVE:
        return status
    packed = {k: v for k, v in status.items() if k != "nodes"}
    packed[FIELD] = base64.b64encode(gzip.compress(text.encode(), compresslevel=1)).decode()
    return packed


def unpack_status(status: dict[str, Any]) -> dict[str, Any]:
    """``status`` with ordinary ``nodes`` (a new dict when it was compressed)."""
    packed = status.get(FIELD)
    if not packed:
        return status
    unpacked = {k: v for k, v in status.items() if k != FIELD}
    unpacked["nodes"] = json.loads(gzip.decompress(base64.b64decode(packed)))
    return unpacked


def inflate(workflow: dict[str, Any]) -> dict[str, Any]:
    """The workflow with ordinary ``status.nodes`` (unchanged when not compressed)."""
    status = workflow.get("status")
    if not status or FIELD not in status:
        return workflow
    return {**workflow, "status": unpack_status(status)}


def inflate_in_place(workflow: dict[str, Any]) -> None:
    """Like :func:`inflate`, editing ``workflow`` (for read-modify-write helpers)."""
    status = workflow.get("status")
    if status and FIELD in status:
        workflow["status"] = unpack_status(status)


def deflate_in_place(workflow: dict[str, Any]) -> None:
    """Compress ``workflow``'s nodes in place when they are large."""
    status = workflow.get("status")
    if status:
        workflow["status"] = pack_status(status)
