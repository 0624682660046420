"""Instants of the sandbox feature on the wire and in stored objects: ISO 8601 in UTC with
a ``Z`` and microseconds (sub-second order matters, e.g. snapshots listed oldest first).

Sandbox feature; standard library only.
"""

from __future__ import annotations

from datetime import UTC, datetime


def to_iso(ts: float | None) -> str | None:
    """`ts` (seconds since the epoch) as text; None stays None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def from_iso(text: str | None) -> float:
    """Seconds since the epoch of `text` as `to_iso` writes it; 0.0 for none."""
    if not text:
        return 0.0
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
