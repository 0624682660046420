"""Tokens of the two expression languages Argo uses (expr-lang and govaluate).

Workflows layer, leaf module. One lexer serves both: the parser decides what a token means.
Tokens carry their position so errors can point at the offending character.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TokenKind = Literal["num", "str", "name", "op", "eof"]


class ExprError(ValueError):
    """An expression could not be parsed or evaluated; the message says where and why."""


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    value: str
    pos: int
    number: int | float | None = None


# Longest first, so "==" wins over "=" and "?." over "?".
OPERATORS = (
    "...", "..", "?.", "??", "==", "!=", "<=", ">=", "&&", "||", "**", "=~", "!~",
    "+", "-", "*", "/", "%", "^", "<", ">", "!", "?", ":", ".", ",", "(", ")", "[", "]",
    "{", "}", "#", "|", ";", "=",
)  # fmt: skip
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0", "/": "/"}


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; raises ExprError on a character that starts no token."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            j = i
            while j < n and (text[j].isdigit() or text[j] == "_"):
                j += 1
            is_float = False
            if j < n and text[j] == "." and j + 1 < n and text[j + 1].isdigit():
                is_float = True
                j += 1
                while j < n and text[j].isdigit():
                    j += 1
            if j < n and text[j] in "eE":
                k = j + 1
                if k < n and text[k] in "+-":
                    k += 1
                if k < n and text[k].isdigit():
                    is_float = True
                    j = k
                    while j < n and text[j].isdigit():
                        j += 1
            raw = text[i:j].replace("_", "")
            value: int | float = float(raw) if is_float else int(raw)
            tokens.append(Token("num", text[i:j], i, value))
            i = j
            continue
        if ch in "'\"`":
            j, out = i + 1, []
            while j < n and text[j] != ch:
                if text[j] == "\\" and ch != "`" and j + 1 < n:
                    nxt = text[j + 1]
                    if nxt == "u" and j + 5 < n:
                        out.append(chr(int(text[j + 2 : j + 6], 16)))
                        j += 6
                        continue
                    out.append(_ESCAPES.get(nxt, "\\" + nxt))
                    j += 2
                    continue
                out.append(text[j])
                j += 1
            if j >= n:
                raise ExprError(f"unterminated string starting at position {i}")
            tokens.append(Token("str", "".join(out), i))
            i = j + 1
            continue
        if ch.isalpha() or ch in "_$":
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_$"):
                j += 1
            tokens.append(Token("name", text[i:j], i))
            i = j
            continue
        for op in OPERATORS:
            if text.startswith(op, i):
                tokens.append(Token("op", op, i))
                i += len(op)
                break
        else:
            raise ExprError(f"unexpected character {ch!r} at position {i}")
    tokens.append(Token("eof", "", n))
    return tokens
