"""Mapping failure Status bodies to typed exceptions, and the public surface."""

from __future__ import annotations

from typing import Any

import pytest

import dockyard.client
from dockyard.client import (
    AlreadyExistsError,
    ApiError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    GoneError,
    InternalServerError,
    InvalidError,
    NotFoundError,
    UnauthorizedError,
)
from dockyard.client._errors import error_from_status


def status(code: int, reason: str | None, message: str = "m", **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "code": code, "message": message}
    if reason:
        body["reason"] = reason
    if details:
        body["details"] = details
    return body


@pytest.mark.parametrize(
    ("code", "body", "cls", "reason"),
    [
        (404, status(404, "NotFound"), NotFoundError, "NotFound"),
        (409, status(409, "AlreadyExists"), AlreadyExistsError, "AlreadyExists"),
        (409, status(409, "Conflict"), ConflictError, "Conflict"),
        (422, status(422, "Invalid"), InvalidError, "Invalid"),
        (400, status(400, "BadRequest"), BadRequestError, "BadRequest"),
        (401, status(401, "Unauthorized"), UnauthorizedError, "Unauthorized"),
        (403, status(403, "Forbidden"), ForbiddenError, "Forbidden"),
        (410, status(410, "Gone"), GoneError, "Gone"),
        (500, status(500, "InternalError"), InternalServerError, "InternalError"),
        (404, status(404, None), NotFoundError, "NotFound"),
        (503, None, InternalServerError, "InternalError"),
        (418, None, ApiError, "Unknown"),
        (200, status(410, "Expired"), GoneError, "Expired"),
    ],
    ids=[
        "not-found", "already-exists", "conflict", "invalid", "bad-request", "unauthorized",
        "forbidden", "gone", "internal", "code-only", "non-json-5xx", "unknown-4xx",
        "status-code-wins",
    ],
)  # fmt: skip
def test_error_class_follows_reason_then_code(
    code: int, body: Any, cls: type[ApiError], reason: str
) -> None:
    error = error_from_status(code, body, "plain text body")
    assert type(error) is cls
    assert error.reason == reason


def test_str_names_each_failing_field() -> None:
    body = status(
        422, "Invalid", 'Pod "p" is invalid',
        causes=[
            {"field": "spec.containers[0].image", "reason": "FieldValueRequired",
             "message": "image is required"},
            {"field": "metadata.name", "reason": "FieldValueInvalid", "message": "bad"},
        ],
    )  # fmt: skip
    error = error_from_status(422, body)

    assert str(error) == (
        'Invalid (422): Pod "p" is invalid; '
        "spec.containers[0].image: FieldValueRequired: image is required; "
        "metadata.name: FieldValueInvalid: bad"
    )
    assert [c.field for c in error.causes] == ["spec.containers[0].image", "metadata.name"]


def test_non_json_body_keeps_its_text() -> None:
    error = error_from_status(502, None, "<html>bad gateway</html>\n")
    assert error.message == "<html>bad gateway</html>"


EXPECTED_PUBLIC = {
    "DEFAULT_SERVER", "AlreadyExistsError", "ApiError", "AsyncClient", "BadRequestError",
    "Cause", "Client", "ConditionUnreachableError", "ConflictError", "ConnectionLostError",
    "DockyardError", "ForbiddenError", "GoneError", "InternalServerError", "InvalidError",
    "KindInfo", "NotFoundError", "ServerUnreachableError", "UnauthorizedError",
    "UnknownKindError", "WaitError", "WaitTimeoutError", "WatchEvent", "resolve_data_dir",
}  # fmt: skip


def test_public_surface_is_exactly_what_is_documented() -> None:
    assert set(dockyard.client.__all__) == EXPECTED_PUBLIC
    for name in EXPECTED_PUBLIC:
        member = getattr(dockyard.client, name)
        if callable(member):
            assert member.__module__.startswith("dockyard.client._")
            assert member.__doc__, f"{name} needs a docstring"


def test_sync_and_async_clients_offer_the_same_methods() -> None:
    def public(cls: type) -> set[str]:
        return {n for n in vars(cls) if not n.startswith("_")}

    lifecycle = {"close", "aclose"}
    sync_methods = public(dockyard.client.Client) - lifecycle
    assert sync_methods == public(dockyard.client.AsyncClient) - lifecycle
