"""Argo's two expression languages, parsed and evaluated for real.

* :func:`evaluate` — expr-lang, used by ``{{= }}`` tags, ``valueFrom.expression``, hook
  and retry ``expression`` fields. Variables come from :func:`nested_env`.
* :func:`evaluate_when` — govaluate, used by ``when:`` after ``{{ }}`` substitution; bare
  words are strings, ``=~`` matches a regular expression; the result must be a bool.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dockyard.workflows.expr._eval import evaluate as _evaluate
from dockyard.workflows.expr._functions import (
    as_float,
    as_int,
    builtins,
    parse_go_duration,
    to_json,
    to_text,
)
from dockyard.workflows.expr._jsonpath import jsonpath
from dockyard.workflows.expr._lexer import ExprError
from dockyard.workflows.expr._parser import Node, parse

_BUILTINS = builtins()


def nested_env(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Expand ``{"steps.a.outputs.result": "x"}`` into nested maps, on top of the builtins.

    Where a key is both a value and a prefix of others (``inputs.parameters`` as a JSON
    list next to ``inputs.parameters.x``) the map wins, as in Argo's expression env. The
    ``workflow.creationTimestamp.<strftime letter>`` shorthands exist only for simple
    tags: in expressions ``workflow.creationTimestamp`` stays the timestamp string.
    """
    env: dict[str, Any] = dict(_BUILTINS)
    for key in sorted(flat, key=lambda k: -k.count(".")):
        if key.startswith(_TAG_ONLY):
            continue
        parts = key.split(".")
        target = env
        for part in parts[:-1]:
            child = target.get(part)
            if not isinstance(child, dict) or (target is env and part in _BUILTINS):
                child = {}
                target[part] = child
            target = child
        if not isinstance(target.get(parts[-1]), dict):
            target[parts[-1]] = flat[key]
    return env


_TAG_ONLY = "workflow.creationTimestamp."


def evaluate(text: str, env: Mapping[str, Any]) -> Any:
    """Evaluate an expr-lang expression; raises ExprError."""
    return _evaluate(text, env, "expr")


def evaluate_when(text: str) -> bool:
    """Evaluate a substituted ``when`` condition with govaluate semantics."""
    result = _evaluate(text, {}, "govaluate")
    if not isinstance(result, bool):
        raise ExprError(f"when {text!r} evaluated to {result!r}, not a boolean")
    return result


__all__ = [
    "ExprError",
    "Node",
    "as_float",
    "as_int",
    "evaluate",
    "evaluate_when",
    "jsonpath",
    "nested_env",
    "parse",
    "parse_go_duration",
    "to_json",
    "to_text",
]
