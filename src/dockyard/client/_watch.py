"""Watch events: decoding the NDJSON stream of ``GET ...?watch=true``.

Each line of a watch stream is ``{"type": ..., "object": {...}}``. Decoding is shared by
the sync and async clients; they only differ in how they read lines. An ``ERROR`` event
carries a ``Status`` and becomes the matching :class:`~dockyard.client.ApiError` (410 →
:class:`~dockyard.client.GoneError`, the signal to relist).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from dockyard.client._errors import ApiError, ConnectionLostError, error_from_status

ADDED: Final = "ADDED"
MODIFIED: Final = "MODIFIED"
DELETED: Final = "DELETED"
BOOKMARK: Final = "BOOKMARK"
ERROR: Final = "ERROR"
EVENT_TYPES: Final = frozenset({ADDED, MODIFIED, DELETED, BOOKMARK, ERROR})


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change to one object.

    ``type`` is ``ADDED``, ``MODIFIED``, ``DELETED`` or ``BOOKMARK`` (a BOOKMARK's object
    only carries ``metadata.resourceVersion``, the point to resume from). ``ERROR`` events
    are never yielded: they are raised as :class:`~dockyard.client.ApiError`.
    """

    type: str
    object: dict[str, Any]

    @property
    def resource_version(self) -> str | None:
        """``object.metadata.resourceVersion``, the position to resume a watch from."""
        rv = (self.object.get("metadata") or {}).get("resourceVersion")
        return str(rv) if rv not in (None, "") else None

    @property
    def name(self) -> str | None:
        """``object.metadata.name``."""
        name = (self.object.get("metadata") or {}).get("name")
        return str(name) if name is not None else None


def decode_line(line: str) -> WatchEvent | None:
    """Decode one stream line; ``None`` for a blank keep-alive line.

    Raises the typed :class:`ApiError` for an ``ERROR`` event and
    :class:`ConnectionLostError` for a line that is not a watch event (a truncated or
    foreign stream is a transport failure, not something to skip silently).
    """
    if not line.strip():
        return None
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise ConnectionLostError(f"malformed watch event: {line[:200]!r}") from exc
    if not isinstance(data, dict) or data.get("type") not in EVENT_TYPES:
        raise ConnectionLostError(f"malformed watch event: {line[:200]!r}")
    obj = data.get("object")
    if not isinstance(obj, dict):
        obj = {}
    if data["type"] == ERROR:
        raise watch_error(obj)
    return WatchEvent(type=str(data["type"]), object=obj)


def watch_error(status: dict[str, Any]) -> ApiError:
    """The typed error for an ``ERROR`` event's Status object."""
    code = status.get("code")
    return error_from_status(code if isinstance(code, int) else 500, status)
