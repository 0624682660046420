"""The Connect protocol's JSON codec, as envd's clients speak it.

Sandbox feature, HTTP side. Unary calls are plain JSON POSTs answered with JSON (errors:
HTTP status from the Connect code, body ``{"code", "message"}``). Streaming calls use
enveloped messages: 1 flag byte, a 4-byte big-endian length, then JSON; the stream ends
with a frame flagged `END_STREAM` whose body is ``{}`` or ``{"error": {...}}``.
"""

from __future__ import annotations

import json
import struct
from typing import Any

END_STREAM = 0x02
STREAM_CONTENT_TYPE = "application/connect+json"

#: Connect error code -> HTTP status for unary responses.
HTTP_STATUS = {
    "invalid_argument": 400,
    "unauthenticated": 401,
    "permission_denied": 403,
    "not_found": 404,
    "already_exists": 409,
    "failed_precondition": 412,
    "resource_exhausted": 429,
    "unimplemented": 501,
    "unavailable": 503,
    "internal": 500,
}

#: The in-sandbox daemon's error codes in Connect terms.
FROM_DAEMON = {
    "not_found": "not_found",
    "invalid": "invalid_argument",
    "exists": "already_exists",
    "unavailable": "unavailable",
    "internal": "internal",
}


class ConnectError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def body(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def frame(message: dict[str, Any], flags: int = 0) -> bytes:
    payload = json.dumps(message, separators=(",", ":")).encode()
    return struct.pack(">BI", flags, len(payload)) + payload


def end_frame(error: ConnectError | None = None) -> bytes:
    return frame({"error": error.body()} if error else {}, END_STREAM)


def read_envelope(body: bytes) -> dict[str, Any]:
    """The single message of a streaming request's body (server-streaming calls)."""
    if len(body) < 5:
        raise ConnectError("invalid_argument", "request is not an enveloped Connect message")
    flags, length = struct.unpack(">BI", body[:5])
    if flags & 0x01:
        raise ConnectError("unimplemented", "compressed messages are not supported")
    payload = body[5 : 5 + length]
    if len(payload) != length:
        raise ConnectError("invalid_argument", "truncated Connect message")
    return parse_json(payload)


def parse_json(payload: bytes) -> dict[str, Any]:
    try:
        message = json.loads(payload or b"{}")
    except ValueError as exc:
        raise ConnectError("invalid_argument", f"invalid JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise ConnectError("invalid_argument", "message must be a JSON object")
    return message
