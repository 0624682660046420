"""Helpers for ``status.conditions`` lists on raw objects (Kubernetes semantics:
``lastTransitionTime`` changes only when ``status`` changes)."""

from __future__ import annotations

from typing import Any


def set_condition(
    obj: dict[str, Any],
    type_: str,
    status: str,
    now: str,
    reason: str | None = None,
    message: str | None = None,
) -> None:
    conditions: list[dict[str, Any]] = obj.setdefault("status", {}).setdefault("conditions", [])
    for condition in conditions:
        if condition["type"] == type_:
            if condition["status"] != status:
                condition["lastTransitionTime"] = now
            condition["status"] = status
            _set_optional(condition, "reason", reason)
            _set_optional(condition, "message", message)
            return
    new: dict[str, Any] = {"type": type_, "status": status, "lastTransitionTime": now}
    _set_optional(new, "reason", reason)
    _set_optional(new, "message", message)
    conditions.append(new)


def get_condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == type_:
            return condition  # type: ignore[no-any-return]
    return None


def _set_optional(target: dict[str, Any], key: str, value: str | None) -> None:
    if value is None:
        target.pop(key, None)
    else:
        target[key] = value
