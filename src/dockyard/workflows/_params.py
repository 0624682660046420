"""Parameters: template inputs from arguments, loop expansion and output scopes.

Workflows layer. Pure functions over plain dicts (Argo YAML as stored):

* :func:`resolve_inputs` — a template's input parameters from the caller's arguments, with
  ``default`` and ``enum`` checks, as Argo's ``processInputs``.
* :func:`expand_items` — ``withItems`` / ``withParam`` / ``withSequence`` into items.
* :func:`node_scope` / :func:`aggregate_scope` — what ``steps.X.*`` / ``tasks.X.*`` mean
  once X ran (aggregated into JSON lists for loops).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dockyard.workflows._nodes import NodeRecord
from dockyard.workflows._tags import Scope, render

Params = list[dict[str, Any]]


class ParamError(ValueError):
    """Inputs or loop items are invalid; the message names the parameter."""


def as_text(value: Any) -> str:
    """Argo's AnyString: parameter values given as numbers or booleans become strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def resolve_inputs(template: Mapping[str, Any], arguments: Params) -> Params:
    """The template's input parameters with values, or ParamError."""
    given = {p["name"]: p for p in arguments}
    resolved: Params = []
    for declared in (template.get("inputs") or {}).get("parameters") or []:
        name = declared["name"]
        param = {k: v for k, v in declared.items() if k not in ("value", "default", "valueFrom")}
        arg = given.get(name)
        if arg is not None and "value" in arg:
            value: Any = arg["value"]
        elif arg is not None and "valueFrom" in arg and "value" not in arg:
            value = (arg.get("valueFrom") or {}).get("default", declared.get("default"))
        elif "value" in declared:
            value = declared["value"]
        elif "default" in declared:
            value = declared["default"]
        else:
            raise ParamError(f"inputs.parameters.{name} was not supplied")
        if value is None:
            raise ParamError(f"inputs.parameters.{name} was not supplied")
        text = as_text(value)
        enum = declared.get("enum")
        if enum and text not in [as_text(e) for e in enum] and "{{" not in text:
            raise ParamError(
                f"inputs.parameters.{name}: value {text!r} is not one of the enum values "
                f"{[as_text(e) for e in enum]}"
            )
        param["value"] = text
        resolved.append(param)
    return resolved


def inputs_scope(inputs: Params) -> dict[str, Any]:
    scope: dict[str, Any] = {}
    for param in inputs:
        scope[f"inputs.parameters.{param['name']}"] = param.get("value", "")
    if inputs:
        scope["inputs.parameters"] = json.dumps(inputs, separators=(",", ":"))
    return scope


def expand_items(invocation: Mapping[str, Any], scope: Scope) -> list[Any] | None:
    """The loop items of a step or task, or None when it has no loop."""
    if invocation.get("withItems") is not None:
        items = invocation["withItems"]
        return [_render_item(item, scope) for item in items]
    if invocation.get("withParam") is not None:
        text = render(str(invocation["withParam"]), scope, strict=True)
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            raise ParamError(
                f"withParam value could not be parsed as a JSON list: {text}"
            ) from None
        if not isinstance(items, list):
            raise ParamError(f"withParam value is not a JSON list: {text}")
        return items
    sequence = invocation.get("withSequence")
    if sequence is not None:
        return _sequence(sequence, scope)
    return None


def _render_item(item: Any, scope: Scope) -> Any:
    if isinstance(item, str):
        return render(item, scope)
    return item


def _sequence(sequence: Mapping[str, Any], scope: Scope) -> list[str]:
    def number(key: str) -> int | None:
        raw = sequence.get(key)
        if raw is None:
            return None
        text = render(as_text(raw), scope, strict=True)
        try:
            return int(text)
        except ValueError:
            raise ParamError(f"withSequence.{key}: {text!r} is not an integer") from None

    count, start, end = number("count"), number("start"), number("end")
    if count is not None and end is not None:
        raise ParamError("withSequence: count and end are mutually exclusive")
    start = start or 0
    if count is not None:
        values = list(range(start, start + count))
    elif end is not None:
        step = 1 if end >= start else -1
        values = list(range(start, end + step, step))
    else:
        raise ParamError("withSequence: count or end is required")
    fmt = sequence.get("format")
    return [_go_sprintf(fmt, v) if fmt else str(v) for v in values]


def _go_sprintf(fmt: str, value: int) -> str:
    # Go verbs map onto Python's % formatting for the integer verbs people use.
    try:
        return fmt.replace("%v", "%d") % value
    except (TypeError, ValueError):
        return str(value)


def item_display(index: int, item: Any) -> str:
    """The ``(0:item)`` suffix Argo appends to loop children."""
    if isinstance(item, dict):
        text = ",".join(f"{k}:{as_text(v)}" for k, v in sorted(item.items()))
    else:
        text = as_text(item)
    return f"({index}:{text})"


def item_scope(item: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {"item": item}
    if isinstance(item, dict):
        for key, value in item.items():
            scope[f"item.{key}"] = value
    return scope


def node_scope(prefix: str, node: NodeRecord) -> dict[str, Any]:
    """``steps.X.*`` / ``tasks.X.*`` for one finished (or skipped) node."""
    scope: dict[str, Any] = {
        f"{prefix}.id": node["id"],
        f"{prefix}.status": node["phase"],
        f"{prefix}.startedAt": node.get("startedAt", ""),
        f"{prefix}.finishedAt": node.get("finishedAt", ""),
    }
    if node.get("hostNodeName"):
        scope[f"{prefix}.hostNodeName"] = node["hostNodeName"]
    outputs = node.get("outputs") or {}
    if "exitCode" in outputs:
        scope[f"{prefix}.exitCode"] = outputs["exitCode"]
    if "result" in outputs:
        scope[f"{prefix}.outputs.result"] = outputs["result"]
    for param in outputs.get("parameters") or []:
        if "value" in param:
            scope[f"{prefix}.outputs.parameters.{param['name']}"] = param["value"]
    return scope


def aggregate_scope(prefix: str, nodes: list[NodeRecord]) -> dict[str, Any]:
    """Aggregated outputs of a loop's children (succeeded ones, in loop order)."""
    param_list: list[dict[str, str]] = []
    per_name: dict[str, list[str]] = {}
    results: list[Any] = []
    for node in nodes:
        outputs = node.get("outputs")
        if not outputs or node.get("phase") != "Succeeded":
            continue
        if outputs.get("parameters"):
            entry = {p["name"]: p.get("value", "") for p in outputs["parameters"]}
            param_list.append(entry)
            for key, value in entry.items():
                per_name.setdefault(key, []).append(value)
        if "result" in outputs:
            try:
                results.append(json.loads(outputs["result"]))
            except (json.JSONDecodeError, TypeError):
                results.append(outputs["result"])
    scope: dict[str, Any] = {
        f"{prefix}.outputs.result": json.dumps(results, separators=(",", ":"), sort_keys=True),
        f"{prefix}.outputs.parameters": json.dumps(
            param_list, separators=(",", ":"), sort_keys=True
        ),
    }
    for key, values in per_name.items():
        scope[f"{prefix}.outputs.parameters.{key}"] = json.dumps(values, separators=(",", ":"))
    if nodes:
        phases = {n.get("phase") for n in nodes}
        scope[f"{prefix}.status"] = "Succeeded" if phases <= {"Succeeded", "Skipped"} else "Failed"
    return scope
