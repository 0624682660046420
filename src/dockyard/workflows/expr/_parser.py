"""A Pratt parser for expr-lang (``{{= }}`` tags, hook and retry expressions) and for
govaluate (``when:`` conditions).

Workflows layer. The two languages share most of their grammar; ``Dialect`` switches the
differences: in govaluate a bare word is a string (Argo rewrites govaluate variables into
strings so ``heads == heads`` works) and ``=~``/``!~`` match regular expressions; expr-lang
has member access, calls, closures (``{# > 1}``), array/map literals, ranges and ``??``.

The result is a tree of :class:`Node` tuples evaluated by :mod:`._eval`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from dockyard.workflows.expr._lexer import ExprError, Token, tokenize

Dialect = Literal["expr", "govaluate"]

# Builtins whose second argument is a predicate (a closure over ``#``).
PREDICATE_FUNCTIONS = frozenset(
    {
        "all", "any", "none", "one", "filter", "map", "count", "find", "findIndex",
        "findLast", "findLastIndex", "groupBy", "sortBy", "sum", "reduce",
    }
)  # fmt: skip

# Binding powers (higher binds tighter); expr-lang's own table, with govaluate's regex ops.
_BINARY: dict[str, int] = {
    "||": 10, "or": 10,
    "&&": 15, "and": 15,
    "==": 20, "!=": 20, "<": 20, ">": 20, "<=": 20, ">=": 20, "in": 20, "not in": 20,
    "matches": 20, "contains": 20, "startsWith": 20, "endsWith": 20, "=~": 20, "!~": 20,
    "..": 25,
    "+": 30, "-": 30,
    "*": 60, "/": 60, "%": 60,
    "**": 100, "^": 100,
    "??": 500,
}  # fmt: skip
_RIGHT_ASSOC = frozenset({"**", "^"})
_UNARY_POWER = 90


@dataclass(frozen=True)
class Node:
    """One AST node: ``op`` names it, ``args`` holds literals or child nodes."""

    op: str
    args: tuple[Any, ...] = ()


class _Parser:
    def __init__(self, text: str, dialect: Dialect) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0
        self.dialect = dialect
        self.closure_depth = 0

    # -- token helpers -----------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def at(self, value: str) -> bool:
        token = self.tok
        return token.kind in ("op", "name") and token.value == value

    def expect(self, value: str) -> None:
        if not self.at(value):
            raise self.error(f"expected {value!r}")
        self.pos += 1

    def error(self, message: str) -> ExprError:
        token = self.tok
        found = "end of expression" if token.kind == "eof" else repr(token.value)
        return ExprError(f"{message} at position {token.pos}, found {found} in {self.text!r}")

    # -- grammar -----------------------------------------------------------------------
    def parse(self) -> Node:
        node = self.expression()
        if self.tok.kind != "eof":
            raise self.error("unexpected token")
        return node

    def expression(self) -> Node:
        condition = self.binary(0)
        if self.at("?"):
            self.advance()
            if self.dialect == "expr" and self.at(":"):  # Elvis: a ?: b
                self.advance()
                return Node("elvis", (condition, self.expression()))
            then = self.expression()
            self.expect(":")
            return Node("cond", (condition, then, self.expression()))
        return condition

    def _binary_op(self) -> str | None:
        token = self.tok
        if token.kind == "op" and token.value in _BINARY:
            return token.value
        if token.kind == "name":
            if token.value == "not" and self.tokens[self.pos + 1].value == "in":
                return "not in"
            if token.value in _BINARY and self.dialect == "expr":
                return token.value
            if token.value == "in":
                return "in"
        return None

    def binary(self, min_power: int) -> Node:
        left = self.unary()
        while True:
            op = self._binary_op()
            if op is None:
                return left
            power = _BINARY[op]
            if power < min_power or (power == min_power and op not in _RIGHT_ASSOC):
                return left
            self.advance()
            if op == "not in":
                self.advance()
            right = self.binary(power if op in _RIGHT_ASSOC else power + 1)
            left = Node("bin", (op, left, right))

    def unary(self) -> Node:
        token = self.tok
        if (token.kind == "op" and token.value in ("!", "-", "+")) or (
            token.kind == "name" and token.value == "not" and self.dialect == "expr"
        ):
            self.advance()
            operand = self.binary(_UNARY_POWER)
            op = "!" if token.value == "not" else token.value
            return Node("unary", (op, operand))
        return self.postfix(self.primary())

    def primary(self) -> Node:
        token = self.advance()
        if token.kind == "num":
            return Node("lit", (token.number,))
        if token.kind == "str":
            return Node("lit", (token.value,))
        if token.kind == "name":
            return self.name(token)
        if token.kind == "op":
            if token.value == "(":
                inner = self.expression()
                self.expect(")")
                return inner
            if token.value == "[":
                return Node("array", tuple(self.sequence("]")))
            if token.value == "{":
                return self.map_literal()
            if token.value == "#" and self.dialect == "expr":
                if self.tok.kind == "name" and self.tok.pos == token.pos + 1:
                    return Node("pointer", (self.advance().value,))
                return Node("pointer", ("",))
            if token.value == "." and self.closure_depth and self.tok.kind == "name":
                # ".field" inside a closure is "#.field".
                return Node("member", (Node("pointer", ("",)), self.advance().value, False))
        self.pos -= 1
        raise self.error("unexpected token")

    def name(self, token: Token) -> Node:
        word = token.value
        if word in ("true", "false"):
            return Node("lit", (word == "true",))
        if word in ("nil", "null"):
            return Node("lit", (None,))
        if self.dialect == "govaluate":
            return Node("lit", (word,))
        if self.at("("):
            self.advance()
            return Node("call", (Node("name", (word,)), tuple(self.arguments(word))))
        return Node("name", (word,))

    def arguments(self, function: str | None) -> list[Node]:
        args: list[Node] = []
        while not self.at(")"):
            if function in PREDICATE_FUNCTIONS and len(args) == 1:
                args.append(self.closure())
            else:
                args.append(self.expression())
            if not self.at(")"):
                self.expect(",")
        self.advance()
        return args

    def closure(self) -> Node:
        self.closure_depth += 1
        try:
            if self.at("{"):
                self.advance()
                body = self.expression()
                self.expect("}")
            else:
                body = self.expression()
        finally:
            self.closure_depth -= 1
        return Node("closure", (body,))

    def sequence(self, close: str) -> list[Node]:
        items: list[Node] = []
        while not self.at(close):
            items.append(self.expression())
            if not self.at(close):
                self.expect(",")
        self.advance()
        return items

    def map_literal(self) -> Node:
        pairs: list[tuple[Node, Node]] = []
        while not self.at("}"):
            key_token = self.advance()
            if key_token.kind in ("name", "str"):
                key: Node = Node("lit", (key_token.value,))
            elif key_token.kind == "num":
                key = Node("lit", (str(key_token.value),))
            elif key_token.kind == "op" and key_token.value == "(":
                key = self.expression()
                self.expect(")")
            else:
                self.pos -= 1
                raise self.error("expected a map key")
            self.expect(":")
            pairs.append((key, self.expression()))
            if not self.at("}"):
                self.expect(",")
        self.advance()
        return Node("map", tuple(pairs))

    def postfix(self, node: Node) -> Node:
        while True:
            if self.at(".") or self.at("?."):
                optional = self.advance().value == "?."
                if self.dialect == "govaluate":
                    raise self.error("member access is not supported in conditions")
                if optional and self.at("["):
                    self.advance()
                    node = self.index(node, optional=True)
                    continue
                token = self.advance()
                if token.kind != "name":
                    self.pos -= 1
                    raise self.error("expected a field name")
                if self.at("("):
                    self.advance()
                    callee = Node("member", (node, token.value, optional))
                    node = Node("call", (callee, tuple(self.arguments(token.value))))
                else:
                    node = Node("member", (node, token.value, optional))
            elif self.at("[") and self.dialect == "expr":
                self.advance()
                node = self.index(node, optional=False)
            elif self.at("(") and node.op in ("member", "call") and self.dialect == "expr":
                self.advance()
                node = Node("call", (node, tuple(self.arguments(None))))
            else:
                return node

    def index(self, target: Node, optional: bool) -> Node:
        if self.at(":"):
            self.advance()
            high = None if self.at("]") else self.expression()
            self.expect("]")
            return Node("slice", (target, None, high))
        low = self.expression()
        if self.at(":"):
            self.advance()
            high = None if self.at("]") else self.expression()
            self.expect("]")
            return Node("slice", (target, low, high))
        self.expect("]")
        return Node("index", (target, low, optional))


def parse(text: str, dialect: Dialect = "expr") -> Node:
    """Parse ``text``; raises ExprError naming the position of the first problem."""
    if not text.strip():
        raise ExprError("empty expression")
    return _Parser(text, dialect).parse()
