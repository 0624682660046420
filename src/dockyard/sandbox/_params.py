"""Reading the parameters of the sandbox feature's HTTP requests: query integers and
booleans, typed fields of a JSON body. Bad input raises ValueError naming the field (the
routers answer it with a 400).

Sandbox feature, HTTP side.
"""

from __future__ import annotations

from typing import Any, overload

from starlette.requests import Request


@overload
def query_int(request: Request, name: str, low: int, high: int) -> int | None: ...


@overload
def query_int(request: Request, name: str, low: int, high: int, default: int) -> int: ...


def query_int(
    request: Request, name: str, low: int, high: int, default: int | None = None
) -> int | None:
    """Query parameter `name` as an integer in [`low`, `high`]; `default` when absent or
    empty."""
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name}: must be an integer, got {text!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name}: must be between {low} and {high}, got {value}")
    return value


def query_bool(request: Request, name: str) -> bool:
    """Query parameter `name` as ``true``/``1`` or ``false``/``0`` (absent or empty: False)."""
    text = (request.query_params.get(name) or "").lower()
    if text in ("", "false", "0"):
        return False
    if text in ("true", "1"):
        return True
    raise ValueError(f"{name}: must be true or false, got {text!r}")


def body_field(body: dict[str, Any], name: str, kind: type, default: Any = None) -> Any:
    """`body[name]` when it is a `kind` (a bool is no int), `default` when absent or null."""
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{name}: must be a {kind.__name__}, got {value!r}")
    return value
