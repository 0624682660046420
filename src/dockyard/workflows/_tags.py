"""``{{ }}`` substitution: simple tags (``{{inputs.parameters.x}}``) and expression tags
(``{{= expr }}``).

Workflows layer. A :class:`Scope` is a flat map of variable names to values (strings for
parameters; ``item`` may be structured). Substitution is *lenient* by default: a tag whose
variable is not in scope yet (a step's output referenced inside a steps template that is
substituted before the step ran) is left as written, so it can be filled in later with a
wider scope. ``strict=True`` raises :class:`UnresolvedError` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dockyard.workflows.expr import ExprError, Node, evaluate, nested_env, parse, to_text

Scope = Mapping[str, Any]


class UnresolvedError(ValueError):
    """A tag could not be resolved (unknown variable or failing expression)."""


def _scan_end(text: str, start: int, expression: bool) -> int:
    """Index of the ``}}`` closing the tag whose body starts at ``start`` (or -1)."""
    if not expression:
        return text.find("}}", start)
    depth, quote, i = 0, "", start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            if ch == "}" and depth == 0 and text.startswith("}}", i):
                return i
            depth -= 1
        i += 1
    return -1


def names_bound(expression: str, env: Mapping[str, Any]) -> bool:
    """True when every top-level variable ``expression`` reads is present in ``env``."""
    try:
        tree = parse(expression)
    except ExprError:
        return True  # let evaluation report the syntax error
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Node):
            if node.op == "name" and node.args[0] not in env:
                return False
            stack.extend(node.args)
        elif isinstance(node, tuple | list):
            stack.extend(node)
    return True


def render(text: str, scope: Scope, *, strict: bool = False) -> str:
    """Replace every resolvable tag in ``text``."""
    if "{{" not in text:
        return text
    out: list[str] = []
    i = 0
    env: dict[str, Any] | None = None
    while True:
        start = text.find("{{", i)
        if start < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:start])
        expression = text.startswith("{{=", start)
        body_start = start + (3 if expression else 2)
        end = _scan_end(text, body_start, expression)
        if end < 0:
            out.append(text[start:])
            return "".join(out)
        body = text[body_start:end].strip()
        original = text[start : end + 2]
        i = end + 2
        if expression:
            if env is None:
                env = nested_env(scope)
            try:
                if not strict and not names_bound(body, env):
                    raise ExprError("references a variable that is not set yet")
                result = evaluate(body, env)
                if result is None:
                    raise ExprError("evaluated to nil")
                out.append(to_text(result))
            except ExprError as exc:
                if strict:
                    raise UnresolvedError(
                        f"failed to evaluate expression {body!r}: {exc}"
                    ) from None
                out.append(original)
        elif body in scope:
            out.append(to_text(scope[body]))
        elif strict:
            raise UnresolvedError(f"failed to resolve {original}")
        else:
            out.append(original)


def substitute(value: Any, scope: Scope, *, strict: bool = False) -> Any:
    """``render`` applied to every string inside ``value`` (dicts and lists are copied)."""
    if isinstance(value, str):
        return render(value, scope, strict=strict)
    if isinstance(value, dict):
        return {k: substitute(v, scope, strict=strict) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, scope, strict=strict) for v in value]
    return value


def unresolved(value: Any) -> list[str]:
    """The tags still present in ``value`` (for error messages)."""
    found: list[str] = []
    if isinstance(value, str):
        i = 0
        while (start := value.find("{{", i)) >= 0:
            end = value.find("}}", start)
            if end < 0:
                break
            found.append(value[start : end + 2])
            i = end + 2
    elif isinstance(value, dict):
        for v in value.values():
            found.extend(unresolved(v))
    elif isinstance(value, list):
        for v in value:
            found.extend(unresolved(v))
    return found
