"""Exceptions raised by the Dockyard SDK.

Every error the SDK raises derives from :class:`DockyardError`. Failures reported by the
server (a non-2xx answer carrying a Kubernetes ``Status`` body, or an ``ERROR`` watch event)
become an :class:`ApiError` subclass chosen by the Status ``reason`` (falling back to the
HTTP code); failures to talk to the server at all become :class:`ServerUnreachableError` or
:class:`ConnectionLostError`. The CLI renders these; nothing here prints.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx


class DockyardError(Exception):
    """Base class of every exception raised by :mod:`dockyard.client`."""


class ServerUnreachableError(DockyardError):
    """No connection could be made to the server (refused, DNS failure, connect timeout)."""

    def __init__(self, server: str, detail: str) -> None:
        super().__init__(f"cannot connect to the Dockyard server at {server}: {detail}")
        self.server = server
        self.detail = detail


class ConnectionLostError(DockyardError):
    """The connection broke or timed out after the request was sent."""


class UnknownKindError(DockyardError, LookupError):
    """The server's discovery document has no kind matching the word the caller used."""

    def __init__(self, word: str) -> None:
        super().__init__(f'the server doesn\'t have a resource type "{word}"')
        self.word = word


@dataclass(frozen=True, slots=True)
class Cause:
    """One field-level reason from ``Status.details.causes``."""

    field: str
    reason: str
    message: str

    def __str__(self) -> str:
        parts = [p for p in (self.reason, self.message) if p]
        where = self.field or "<object>"
        return f"{where}: {': '.join(parts)}" if parts else where


class ApiError(DockyardError):
    """The server answered with a failure ``Status``.

    ``str(error)`` reads ``Reason (code): message`` followed by each cause as
    ``field: reason: message``, so a log line alone says which field failed and why.
    """

    def __init__(
        self,
        status_code: int,
        reason: str,
        message: str,
        *,
        causes: tuple[Cause, ...] = (),
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.status_code = status_code
        self.reason = reason
        self.message = message
        self.causes = causes
        self.details: dict[str, Any] = dict(details or {})
        super().__init__(self._render())

    def _render(self) -> str:
        head = f"{self.reason} ({self.status_code}): {self.message}"
        if not self.causes:
            return head
        return head + "; " + "; ".join(str(c) for c in self.causes)


class BadRequestError(ApiError):
    """400: the request itself is malformed (bad name, bad selector, bad body)."""


class UnauthorizedError(ApiError):
    """401: missing or wrong bearer token."""


class ForbiddenError(ApiError):
    """403: the token is valid but may not do this."""


class NotFoundError(ApiError):
    """404: the object (or the path) does not exist."""


class ConflictError(ApiError):
    """409 Conflict: the resourceVersion sent is stale; re-read and retry."""


class AlreadyExistsError(ApiError):
    """409 AlreadyExists: an object with that name already exists."""


class GoneError(ApiError):
    """410: the requested resourceVersion is older than the server's event history."""


class InvalidError(ApiError):
    """422 Invalid: the object failed validation; :attr:`causes` names the fields."""


class InternalServerError(ApiError):
    """5xx: the server failed; the request may be retried."""


_BY_REASON: dict[str, type[ApiError]] = {
    "BadRequest": BadRequestError,
    "Unauthorized": UnauthorizedError,
    "Forbidden": ForbiddenError,
    "NotFound": NotFoundError,
    "Conflict": ConflictError,
    "AlreadyExists": AlreadyExistsError,
    "Gone": GoneError,
    "Expired": GoneError,
    "Invalid": InvalidError,
    "InternalError": InternalServerError,
}

_BY_CODE: dict[int, tuple[str, type[ApiError]]] = {
    400: ("BadRequest", BadRequestError),
    401: ("Unauthorized", UnauthorizedError),
    403: ("Forbidden", ForbiddenError),
    404: ("NotFound", NotFoundError),
    409: ("Conflict", ConflictError),
    410: ("Gone", GoneError),
    422: ("Invalid", InvalidError),
}


def error_from_status(status_code: int, body: Any, fallback_message: str = "") -> ApiError:
    """Build the typed error for a failure ``Status`` body (or any body at all).

    ``reason`` picks the class; an unknown or missing reason falls back to the HTTP code,
    and 5xx to :class:`InternalServerError`. A non-Status body (a proxy's HTML page, plain
    text) keeps its text as the message.
    """
    status: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    raw_code, raw_reason = status.get("code"), status.get("reason")
    raw_message, raw_details = status.get("message"), status.get("details")
    code = raw_code if isinstance(raw_code, int) else status_code
    reason = raw_reason if isinstance(raw_reason, str) else ""
    message = raw_message if isinstance(raw_message, str) else ""
    details: Mapping[str, Any] = raw_details if isinstance(raw_details, Mapping) else {}

    cls = _BY_REASON.get(reason)
    if cls is None:
        if code in _BY_CODE:
            default_reason, cls = _BY_CODE[code]
        elif code >= 500:
            default_reason, cls = "InternalError", InternalServerError
        else:
            default_reason, cls = "Unknown", ApiError
        reason = reason or default_reason
    return cls(
        code,
        reason,
        message or fallback_message.strip() or httpx.codes.get_reason_phrase(code),
        causes=_causes(details),
        details=details,
    )


def _causes(details: Mapping[str, Any]) -> tuple[Cause, ...]:
    raw = details.get("causes")
    if not isinstance(raw, list):
        return ()
    out: list[Cause] = []
    for item in raw:
        if isinstance(item, Mapping):
            out.append(
                Cause(
                    field=str(item.get("field") or ""),
                    reason=str(item.get("reason") or ""),
                    message=str(item.get("message") or ""),
                )
            )
    return tuple(out)


def error_from_response(response: httpx.Response) -> ApiError:
    """Map a non-2xx response whose body has been read to its typed error."""
    text = response.text
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        body = None
    return error_from_status(response.status_code, body, text)


def raise_for_response(response: httpx.Response) -> None:
    """Raise the typed :class:`ApiError` when ``response`` (already read) is not 2xx."""
    if not response.is_success:
        raise error_from_response(response)


class WaitError(DockyardError):
    """A wait ended without its condition being met; :attr:`object` is the last state seen."""

    def __init__(self, message: str, obj: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.object = obj


class WaitTimeoutError(WaitError):
    """The timeout passed before the condition was met."""


class ConditionUnreachableError(WaitError):
    """The object reached a state from which the condition can never be met.

    For example waiting for ``phase=Succeeded`` on a Pod that has already ``Failed``.
    """
