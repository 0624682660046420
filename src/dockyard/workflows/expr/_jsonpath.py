"""JSONPath lookups for the ``jsonpath(json, path)`` expression function.

Workflows layer, leaf module. Supports what Argo users write: ``$``, ``.key``, ``['key']``,
``[n]`` (negative too), ``[a:b]`` slices, ``[*]``/``.*`` wildcards, ``..key`` recursive
descent, ``[a,b]`` unions and ``[?(@.x > 1 && @.y == "z")]`` filters. As in the Go library
Argo uses, a path with no wildcard, slice, union or filter yields one value; otherwise a list.
"""

from __future__ import annotations

import json
from typing import Any

from dockyard.workflows.expr._lexer import ExprError

_MULTI = "multi"


def jsonpath(document: Any, path: str) -> Any:
    """Look ``path`` up in ``document`` (a JSON string or an already parsed value)."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as exc:
            raise ExprError(f"jsonpath: the input is not JSON: {exc}") from None
    steps = _parse(path)
    values = [document]
    multi = False
    for kind, arg in steps:
        out: list[Any] = []
        for value in values:
            out.extend(_apply(kind, arg, value))
        if kind in ("wild", "slice", "union", "filter", "descend"):
            multi = True
        values = out
    if multi:
        return values
    if not values:
        raise ExprError(f"jsonpath: {path} matched nothing")
    return values[0]


def _parse(path: str) -> list[tuple[str, Any]]:
    path = path.strip()
    if not path.startswith("$"):
        raise ExprError(f"jsonpath {path!r} must start with $")
    steps: list[tuple[str, Any]] = []
    i, n = 1, len(path)
    while i < n:
        if path.startswith("..", i):
            i += 2
            j = i
            while j < n and path[j] not in ".[":
                j += 1
            steps.append(("descend", path[i:j] or "*"))
            i = j
        elif path[i] == ".":
            i += 1
            j = i
            while j < n and path[j] not in ".[":
                j += 1
            key = path[i:j]
            steps.append(("wild", None) if key == "*" else ("key", key))
            i = j
        elif path[i] == "[":
            j = _closing(path, i)
            steps.append(_bracket(path[i + 1 : j].strip()))
            i = j + 1
        else:
            raise ExprError(f"jsonpath: unexpected {path[i]!r} at {i} in {path!r}")
    return steps


def _closing(path: str, start: int) -> int:
    depth, quote = 0, ""
    for j in range(start, len(path)):
        ch = path[j]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return j
    raise ExprError(f"jsonpath: unclosed [ in {path!r}")


def _bracket(inner: str) -> tuple[str, Any]:
    if inner == "*":
        return ("wild", None)
    if inner.startswith("?"):
        body = inner[1:].strip()
        if body.startswith("(") and body.endswith(")"):
            body = body[1:-1]
        return ("filter", body)
    if inner[:1] in "'\"":
        keys = [part.strip()[1:-1] for part in inner.split(",")]
        return ("key", keys[0]) if len(keys) == 1 else ("union", keys)
    if ":" in inner:
        low, _, high = inner.partition(":")
        high = high.split(":")[0]
        return ("slice", (int(low) if low.strip() else None, int(high) if high.strip() else None))
    if "," in inner:
        return ("union", [int(p) for p in inner.split(",")])
    try:
        return ("index", int(inner))
    except ValueError:
        raise ExprError(f"jsonpath: unsupported selector [{inner}]") from None


def _apply(kind: str, arg: Any, value: Any) -> list[Any]:
    if kind == "key":
        return [value[arg]] if isinstance(value, dict) and arg in value else []
    if kind == "index":
        if isinstance(value, list) and -len(value) <= arg < len(value):
            return [value[arg]]
        return []
    if kind == "wild":
        if isinstance(value, dict):
            return list(value.values())
        return list(value) if isinstance(value, list) else []
    if kind == "slice":
        return list(value[arg[0] : arg[1]]) if isinstance(value, list) else []
    if kind == "union":
        out = []
        for key in arg:
            out.extend(_apply("index" if isinstance(key, int) else "key", key, value))
        return out
    if kind == "filter":
        items = (
            value
            if isinstance(value, list)
            else list(value.values())
            if isinstance(value, dict)
            else []
        )
        return [item for item in items if _matches(arg, item)]
    if kind == "descend":
        found: list[Any] = []
        _descend(value, arg, found)
        return found
    raise ExprError(f"jsonpath: unknown step {kind}")


def _descend(value: Any, key: str, found: list[Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if key in ("*", k):
                found.append(v)
            _descend(v, key, found)
    elif isinstance(value, list):
        for v in value:
            if key == "*":
                found.append(v)
            _descend(v, key, found)


def _matches(condition: str, item: Any) -> bool:
    # Evaluated with the expression engine: "@" becomes a variable bound to the item.
    from dockyard.workflows.expr._eval import evaluate

    text = condition.replace("@", "_at_")
    try:
        result = evaluate(text, {"_at_": item})
    except ExprError:
        return False
    return result is True
