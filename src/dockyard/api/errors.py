"""Errors shared by every layer: the API-level failure kinds and their HTTP meaning.

Expected failures (bad input, missing objects, conflicts) are raised as :class:`ApiError`
subclasses. The server turns them into Kubernetes-style ``Status`` bodies; the SDK turns
those bodies back into the same classes. Each error carries the failing fields as
:class:`FieldCause` values so users see *which* field failed and *why*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldCause:
    """One reason a request was rejected: the dotted field path and what is wrong with it."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason, "message": self.message}


@dataclass
class ApiError(Exception):
    """Base of all expected API failures.

    ``reason`` is the machine-readable Kubernetes reason, ``code`` the HTTP status.
    """

    message: str
    causes: list[FieldCause] = field(default_factory=list)
    kind: str | None = None
    name: str | None = None

    reason: ClassVar[str] = "InternalError"
    code: ClassVar[int] = 500

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        if not self.causes:
            return self.message
        details = "; ".join(f"{c.field}: {c.message}" for c in self.causes)
        return f"{self.message}: {details}"

    def to_status(self) -> dict[str, Any]:
        """The Kubernetes ``Status`` body for this error."""
        details: dict[str, Any] = {}
        if self.name is not None:
            details["name"] = self.name
        if self.kind is not None:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": str(self),
            "reason": self.reason,
            "details": details,
            "code": self.code,
        }


class BadRequestError(ApiError):
    """The request itself is malformed (unparseable body, illegal path segment)."""

    reason = "BadRequest"
    code = 400


class InvalidError(ApiError):
    """The object is well-formed but fails validation; ``causes`` name the fields."""

    reason = "Invalid"
    code = 422


class UnauthorizedError(ApiError):
    reason = "Unauthorized"
    code = 401


class ForbiddenError(ApiError):
    reason = "Forbidden"
    code = 403


class NotFoundError(ApiError):
    reason = "NotFound"
    code = 404


class AlreadyExistsError(ApiError):
    reason = "AlreadyExists"
    code = 409


class ConflictError(ApiError):
    """Optimistic concurrency failure: the object changed since the caller read it."""

    reason = "Conflict"
    code = 409


class GoneError(ApiError):
    """A watch asked for a resourceVersion older than the retained event log."""

    reason = "Expired"
    code = 410


__all__ = [
    "AlreadyExistsError",
    "ApiError",
    "BadRequestError",
    "ConflictError",
    "FieldCause",
    "ForbiddenError",
    "GoneError",
    "InvalidError",
    "NotFoundError",
    "UnauthorizedError",
]
