"""Evaluates parsed expressions with expr-lang's (and govaluate's) semantics.

Workflows layer. Values are plain Python: None, bool, int, float, str, list, dict, and
callables for functions. ``/`` always yields a float and ``%`` needs integers, as in
expr-lang; ``==`` compares numbers by value and everything else structurally; a missing
map key reads as nil, and ``a ?? b`` evaluates ``a`` nil-safely. Errors are ExprError.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from dockyard.workflows.expr._lexer import ExprError
from dockyard.workflows.expr._parser import Dialect, Node, parse

_MISSING = object()


class _Scope:
    """The closure stack: ``#`` is the innermost element, ``#index`` its position."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def type_name(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "map"
    if callable(value):
        return "func"
    return type(value).__name__


def equal(a: Any, b: Any) -> bool:
    if is_number(a) and is_number(b):
        return bool(a == b)
    if type(a) is not type(b) and not (isinstance(a, list) and isinstance(b, list)):
        return False
    return bool(a == b)


def truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ExprError(f"expected bool, got {type_name(value)} ({value!r})")


class Evaluator:
    """Evaluate one AST against an environment of variables and functions."""

    def __init__(self, env: Mapping[str, Any], dialect: Dialect = "expr") -> None:
        self.env = env
        self.dialect = dialect
        self.scope = _Scope()

    def eval(self, node: Node, safe: bool = False) -> Any:
        op, args = node.op, node.args
        if op == "lit":
            return args[0]
        if op == "name":
            return self._lookup(args[0], safe)
        if op == "member":
            target = self.eval(args[0], safe)
            if target is None:
                if args[2] or safe:
                    return None
                raise ExprError(f"cannot fetch {args[1]} from nil")
            return self._get(target, args[1], safe)
        if op == "index":
            target = self.eval(args[0], safe)
            if target is None and (args[2] or safe):
                return None
            return self._index(target, self.eval(args[1]), safe)
        if op == "slice":
            return self._slice(self.eval(args[0], safe), args[1], args[2])
        if op == "call":
            return self._call(args[0], args[1])
        if op == "unary":
            return self._unary(args[0], self.eval(args[1]))
        if op == "bin":
            return self._binary(args[0], args[1], args[2])
        if op == "cond":
            return self.eval(args[1]) if truthy(self.eval(args[0])) else self.eval(args[2])
        if op == "elvis":
            left = self.eval(args[0], True)
            return left if left not in (None, False, "", 0) else self.eval(args[1])
        if op == "array":
            return [self.eval(item) for item in args]
        if op == "map":
            return {str(self.eval(k)): self.eval(v) for k, v in args}
        if op == "pointer":
            return self._pointer(args[0])
        if op == "closure":
            raise ExprError("a predicate is only allowed as a function argument")
        raise ExprError(f"unknown expression node {op}")

    # -- variables and members ------------------------------------------------------------
    def _lookup(self, name: str, safe: bool) -> Any:
        if name in self.env:
            return self.env[name]
        if safe:
            return None
        raise ExprError(f"unknown name {name}")

    def _pointer(self, name: str) -> Any:
        if not self.scope.frames:
            raise ExprError("# is only defined inside a predicate")
        frame = self.scope.frames[-1]
        if name == "":
            return frame["#"]
        if name == "index":
            return frame["#index"]
        if name == "acc":
            return frame.get("#acc")
        raise ExprError(f"unknown pointer #{name}")

    def _get(self, target: Any, key: str, safe: bool) -> Any:
        if isinstance(target, Mapping):
            return target.get(key)
        if safe:
            return None
        raise ExprError(f"cannot fetch {key} from {type_name(target)}")

    def _index(self, target: Any, key: Any, safe: bool) -> Any:
        if isinstance(target, Mapping):
            return target.get(key if isinstance(key, str) else str(key))
        if isinstance(target, list | str):
            if not isinstance(key, int) or isinstance(key, bool):
                raise ExprError(f"cannot index {type_name(target)} with {type_name(key)}")
            size = len(target)
            position = key + size if key < 0 else key
            if not 0 <= position < size:
                if safe:
                    return None
                raise ExprError(f"index out of range: {key} (array of length {size})")
            return target[position]
        if target is None and safe:
            return None
        raise ExprError(f"cannot index {type_name(target)}")

    def _slice(self, target: Any, low: Node | None, high: Node | None) -> Any:
        if not isinstance(target, list | str):
            raise ExprError(f"cannot slice {type_name(target)}")
        lo = 0 if low is None else self.eval(low)
        hi = len(target) if high is None else self.eval(high)
        if not isinstance(lo, int) or not isinstance(hi, int):
            raise ExprError("slice bounds must be integers")
        return target[lo:hi]

    # -- calls ---------------------------------------------------------------------------
    def _call(self, callee: Node, arg_nodes: tuple[Node, ...]) -> Any:
        function = self.eval(callee)
        if not callable(function):
            name = callee.args[0] if callee.op == "name" else callee.args[1]
            raise ExprError(f"{name} is not a function")
        if arg_nodes and any(a.op == "closure" for a in arg_nodes):
            values = [
                self._closure(a.args[0]) if a.op == "closure" else self.eval(a) for a in arg_nodes
            ]
        else:
            values = [self.eval(a) for a in arg_nodes]
        try:
            return function(*values)
        except ExprError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError) as exc:
            raise ExprError(str(exc)) from None

    def _closure(self, body: Node) -> Callable[..., Any]:
        def run(element: Any, index: int = 0, acc: Any = None) -> Any:
            self.scope.frames.append({"#": element, "#index": index, "#acc": acc})
            try:
                return self.eval(body)
            finally:
                self.scope.frames.pop()

        return run

    # -- operators -----------------------------------------------------------------------
    def _unary(self, op: str, value: Any) -> Any:
        if op == "!":
            return not truthy(value)
        if not is_number(value):
            raise ExprError(f"invalid operation: {op}{type_name(value)}")
        return -value if op == "-" else value

    def _binary(self, op: str, left_node: Node, right_node: Node) -> Any:
        if op in ("||", "or"):
            return truthy(self.eval(left_node)) or truthy(self.eval(right_node))
        if op in ("&&", "and"):
            return truthy(self.eval(left_node)) and truthy(self.eval(right_node))
        if op == "??":
            left = self.eval(left_node, True)
            return self.eval(right_node) if left is None else left
        left, right = self.eval(left_node), self.eval(right_node)
        if op == "==":
            return equal(left, right)
        if op == "!=":
            return not equal(left, right)
        if op in ("<", ">", "<=", ">="):
            return _compare(op, left, right)
        if op in ("in", "not in"):
            found = _contains(right, left)
            return found if op == "in" else not found
        if op in ("matches", "=~", "!~"):
            if not isinstance(left, str) or not isinstance(right, str):
                raise ExprError(f"{op} needs strings, got {type_name(left)} and {type_name(right)}")
            matched = re.search(right, left) is not None
            return not matched if op == "!~" else matched
        if op == "contains":
            return _str_pair(op, left, right) and right in left
        if op == "startsWith":
            return _str_pair(op, left, right) and left.startswith(right)
        if op == "endsWith":
            return _str_pair(op, left, right) and left.endswith(right)
        if op == "..":
            if not isinstance(left, int) or not isinstance(right, int):
                raise ExprError(".. needs integers")
            return list(range(left, right + 1))
        return _arithmetic(op, left, right, self.dialect)


def _str_pair(op: str, left: Any, right: Any) -> bool:
    if not isinstance(left, str) or not isinstance(right, str):
        raise ExprError(f"{op} needs strings, got {type_name(left)} and {type_name(right)}")
    return True


def _compare(op: str, left: Any, right: Any) -> bool:
    if not (
        (is_number(left) and is_number(right)) or (isinstance(left, str) and isinstance(right, str))
    ):
        raise ExprError(f"invalid operation: {type_name(left)} {op} {type_name(right)}")
    if op == "<":
        return bool(left < right)
    if op == ">":
        return bool(left > right)
    if op == "<=":
        return bool(left <= right)
    return bool(left >= right)


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, Mapping):
        return item in container
    if isinstance(container, list):
        return any(equal(element, item) for element in container)
    if isinstance(container, str) and isinstance(item, str):
        return item in container
    if container is None:
        return False
    raise ExprError(f"invalid operation: in {type_name(container)}")


def _arithmetic(op: str, left: Any, right: Any, dialect: Dialect) -> Any:
    if op == "+":
        if isinstance(left, str) and isinstance(right, str):
            return left + right
        if isinstance(left, list) and isinstance(right, list):
            return left + right
        if dialect == "govaluate" and (isinstance(left, str) or isinstance(right, str)):
            return _go_string(left) + _go_string(right)
    if not is_number(left) or not is_number(right):
        raise ExprError(f"invalid operation: {type_name(left)} {op} {type_name(right)}")
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        if right == 0:
            return math.inf if left > 0 else (-math.inf if left < 0 else math.nan)
        return left / right
    if op == "%":
        if not isinstance(left, int) or not isinstance(right, int):
            raise ExprError("% needs integers")
        if right == 0:
            raise ExprError("integer divide by zero")
        return int(math.fmod(left, right))
    if op in ("**", "^"):
        return float(left) ** float(right)
    raise ExprError(f"unknown operator {op}")


def _go_string(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def evaluate(text: str, env: Mapping[str, Any], dialect: Dialect = "expr") -> Any:
    """Parse and evaluate ``text`` against ``env``."""
    return Evaluator(env, dialect).eval(parse(text, dialect))
