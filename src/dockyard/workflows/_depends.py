"""The DAG ``depends`` grammar (enhanced depends logic).

Workflows layer, leaf module. ``A && (B.Failed || !C.Skipped)``: operands are a task name
optionally followed by ``.Succeeded``, ``.Failed``, ``.Errored``, ``.Skipped``,
``.Omitted``, ``.Daemoned``, ``.AnySucceeded`` or ``.AllFailed``; a bare name means
``(A.Succeeded || A.Skipped || A.Daemoned)``. Combined with ``&&``, ``||``, ``!`` and
parentheses, ``&&`` binding tighter than ``||``. Task names may contain dashes.
The legacy ``dependencies`` list is the conjunction of bare names, widened by each
dependency's ``continueOn``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

RESULTS = frozenset(
    {
        "Succeeded",
        "Failed",
        "Errored",
        "Skipped",
        "Omitted",
        "Daemoned",
        "AnySucceeded",
        "AllFailed",
    }
)
_TOKEN = re.compile(r"\s*(?:(&&|\|\||!|\(|\))|([A-Za-z0-9_][A-Za-z0-9_-]*)(?:\.([A-Za-z]+))?)")


class DependsError(ValueError):
    """A ``depends`` expression is malformed or names an unknown result."""


@dataclass(frozen=True)
class Operand:
    task: str
    result: str | None  # None: the bare-name default


Expression = tuple[str, ...] | Operand
# ("and", left, right), ("or", left, right), ("not", operand)


def _tokens(text: str) -> list[str | Operand]:
    out: list[str | Operand] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise DependsError(f"cannot parse depends {text!r} at position {pos}")
        if match.group(1):
            out.append(match.group(1))
        else:
            result = match.group(3)
            if result is not None and result not in RESULTS:
                raise DependsError(
                    f"depends {text!r}: unknown result .{result} (use {', '.join(sorted(RESULTS))})"
                )
            out.append(Operand(match.group(2), result))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> str | Operand | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def parse(self) -> object:
        node = self.disjunction()
        if self.peek() is not None:
            raise DependsError(f"depends {self.text!r}: unexpected {self.peek()!r}")
        return node

    def disjunction(self) -> object:
        node = self.conjunction()
        while self.peek() == "||":
            self.pos += 1
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> object:
        node = self.unary()
        while self.peek() == "&&":
            self.pos += 1
            node = ("and", node, self.unary())
        return node

    def unary(self) -> object:
        token = self.peek()
        self.pos += 1
        if token == "!":
            return ("not", self.unary())
        if token == "(":
            node = self.disjunction()
            if self.peek() != ")":
                raise DependsError(f"depends {self.text!r}: missing )")
            self.pos += 1
            return node
        if isinstance(token, Operand):
            return token
        raise DependsError(f"depends {self.text!r}: unexpected {token!r}")


def parse_depends(text: str) -> object:
    return _Parser(text).parse()


def referenced_tasks(tree: object) -> list[str]:
    """Task names a depends tree mentions, in order of first appearance."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, Operand):
            if node.task not in found:
                found.append(node.task)
        elif isinstance(node, tuple):
            for child in node[1:]:
                walk(child)

    walk(tree)
    return found


def evaluate_depends(tree: object, result_of: Callable[[str, str], bool]) -> bool:
    """Evaluate with ``result_of(task, result)`` answering one operand."""
    if isinstance(tree, Operand):
        if tree.result is None:
            return any(result_of(tree.task, r) for r in ("Succeeded", "Skipped", "Daemoned"))
        return result_of(tree.task, tree.result)
    assert isinstance(tree, tuple)
    op = tree[0]
    if op == "not":
        return not evaluate_depends(tree[1], result_of)
    if op == "and":
        return evaluate_depends(tree[1], result_of) and evaluate_depends(tree[2], result_of)
    return evaluate_depends(tree[1], result_of) or evaluate_depends(tree[2], result_of)


def from_dependencies(
    dependencies: Iterable[str], continues: Callable[[str], tuple[bool, bool]]
) -> str:
    """The depends expression equivalent to a legacy ``dependencies`` list.

    ``continues(task)`` is that task's ``(continueOn.failed, continueOn.error)``.
    """
    parts = []
    for dep in dependencies:
        failed, error = continues(dep)
        alternatives = [f"{dep}.Succeeded", f"{dep}.Skipped", f"{dep}.Daemoned"]
        if failed:
            alternatives.append(f"{dep}.Failed")
        if error:
            alternatives.append(f"{dep}.Errored")
        parts.append("(" + " || ".join(alternatives) + ")")
    return " && ".join(parts)
