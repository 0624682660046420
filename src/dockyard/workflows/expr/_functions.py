"""The functions an Argo expression can call: expr-lang builtins, Argo's own (``asInt``,
``asFloat``, ``jsonpath``, ``toJson``) and the ``sprig`` namespace.

Workflows layer. :func:`base_env` returns a fresh mapping of them; the template engine
adds the workflow's variables on top. Numbers follow Go: sprig arithmetic works on int64.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import re
import string
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from dockyard.workflows.expr._eval import equal, is_number, type_name
from dockyard.workflows.expr._jsonpath import jsonpath
from dockyard.workflows.expr._lexer import ExprError


def to_json(value: Any) -> str:
    """Go's json.Marshal: compact, integral floats without a fraction."""
    return json.dumps(_go_numbers(value), separators=(",", ":"), ensure_ascii=False)


def _go_numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, list):
        return [_go_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _go_numbers(v) for k, v in value.items()}
    return value


def to_text(value: Any) -> str:
    """How an expression's value is written into a template: strings as they are,
    everything else as JSON (``30``, ``35.8``, ``["a"]``, ``true``)."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    return to_json(value)


def as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ExprError("asInt: cannot convert a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        raise ExprError(f"asInt: {value!r} is not an integer") from None


def as_float(value: Any) -> float:
    try:
        return float(str(value).strip()) if not is_number(value) else float(value)
    except ValueError:
        raise ExprError(f"asFloat: {value!r} is not a number") from None


def _int64(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return int(value)
    try:
        return int(float(str(value)))
    except ValueError:
        return 0


def _float64(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | dict):
        return to_json(value)
    return str(value)


# -- Go time layouts (sprig.date) ---------------------------------------------------------
_GO_LAYOUT = (
    ("2006", "%Y"), ("January", "%B"), ("Jan", "%b"), ("Monday", "%A"), ("Mon", "%a"),
    ("MST", "%Z"), ("01", "%m"), ("02", "%d"), ("15", "%H"), ("03", "%I"), ("04", "%M"),
    ("05", "%S"), ("06", "%y"), ("PM", "%p"), ("-0700", "%z"), ("Z07:00", "%z"),
    ("_2", "%e"), ("1", "%-m"), ("2", "%-d"), ("3", "%-I"), ("4", "%-M"), ("5", "%-S"),
)  # fmt: skip


def go_format(moment: datetime, layout: str) -> str:
    out, i = "", 0
    while i < len(layout):
        for token, directive in _GO_LAYOUT:
            if layout.startswith(token, i):
                out += moment.strftime(directive)
                i += len(token)
                break
        else:
            out += layout[i]
            i += 1
    return out


def _to_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if is_number(value):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    return datetime.now(UTC)


# -- expr-lang builtins -------------------------------------------------------------------
def _len(value: Any) -> int:
    if isinstance(value, str | list | dict):
        return len(value)
    raise ExprError(f"invalid argument for len (type {type_name(value)})")


def _predicate_call(name: str) -> Callable[..., Any]:
    def apply(items: Any, fn: Callable[..., Any], *extra: Any) -> Any:
        if items is None:
            items = []
        if not isinstance(items, list):
            raise ExprError(f"{name}: expected an array, got {type_name(items)}")
        results = (fn(item, index) for index, item in enumerate(items))
        if name == "all":
            return all(r is True for r in results)
        if name == "any":
            return any(r is True for r in results)
        if name == "none":
            return not any(r is True for r in results)
        if name == "one":
            return sum(1 for r in results if r is True) == 1
        if name == "filter":
            return [item for item, r in zip(items, results, strict=False) if r is True]
        if name == "map":
            return list(results)
        if name == "count":
            return sum(1 for r in results if r is True)
        if name == "sum":
            return sum(results)
        if name in ("find", "findIndex"):
            for index, (item, r) in enumerate(zip(items, results, strict=False)):
                if r is True:
                    return item if name == "find" else index
            return None if name == "find" else -1
        if name in ("findLast", "findLastIndex"):
            for index in range(len(items) - 1, -1, -1):
                if fn(items[index], index) is True:
                    return items[index] if name == "findLast" else index
            return None if name == "findLast" else -1
        if name == "groupBy":
            groups: dict[str, list[Any]] = {}
            for item, r in zip(items, results, strict=False):
                groups.setdefault(_to_string(r), []).append(item)
            return groups
        if name == "sortBy":
            keyed = [(fn(item, index), item) for index, item in enumerate(items)]
            descending = bool(extra) and extra[0] == "desc"
            keyed.sort(key=lambda pair: pair[0], reverse=descending)
            return [item for _, item in keyed]
        if name == "reduce":
            acc = extra[0] if extra else (items[0] if items else None)
            start = 0 if extra else 1
            for index in range(start, len(items)):
                acc = fn(items[index], index, acc)
            return acc
        raise ExprError(f"unknown function {name}")

    return apply


def _sum(items: Any, fn: Callable[..., Any] | None = None) -> Any:
    if fn is not None:
        return _predicate_call("sum")(items, fn)
    return sum(items)


def _duration(text: str) -> float:
    return parse_go_duration(text)


_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str | int | float) -> float:
    """Seconds in a Go duration (``1m30s``) or a bare number of seconds (``"10"``)."""
    if is_number(text):
        return float(text)
    raw = str(text).strip()
    try:
        return float(raw)
    except ValueError:
        pass
    sign = -1.0 if raw.startswith("-") else 1.0
    raw = raw.lstrip("+-")
    total, pos = 0.0, 0
    for match in _DURATION_RE.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(raw) or not raw:
        raise ExprError(f"invalid duration {text!r}")
    return sign * total


def _flatten(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        out.extend(_flatten(item) if isinstance(item, list) else [item])
    return out


def _uniq(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if not any(equal(item, seen) for seen in out):
            out.append(item)
    return out


def _from_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExprError(f"fromJSON: {exc}") from None


def _get(container: Any, key: Any) -> Any:
    if isinstance(container, dict):
        return container.get(key)
    if (
        isinstance(container, list)
        and isinstance(key, int)
        and -len(container) <= key < len(container)
    ):
        return container[key]
    return None


def builtins() -> dict[str, Any]:
    functions: dict[str, Any] = {
        name: _predicate_call(name)
        for name in (
            "all", "any", "none", "one", "filter", "map", "count", "find", "findIndex",
            "findLast", "findLastIndex", "groupBy", "sortBy", "reduce",
        )
    }  # fmt: skip
    functions.update(
        {
            "len": _len,
            "sum": _sum,
            "abs": abs,
            "ceil": math.ceil,
            "floor": math.floor,
            "round": round,
            "int": as_int,
            "float": as_float,
            "string": _to_string,
            "trim": lambda s, chars=None: s.strip(chars),
            "trimPrefix": lambda s, p: s.removeprefix(p),
            "trimSuffix": lambda s, p: s.removesuffix(p),
            "upper": lambda s: s.upper(),
            "lower": lambda s: s.lower(),
            "split": lambda s, sep, n=-1: s.split(sep, n - 1 if n > 0 else -1),
            "replace": lambda s, old, new: s.replace(old, new),
            "repeat": lambda s, n: s * n,
            "indexOf": lambda s, sub: s.find(sub),
            "lastIndexOf": lambda s, sub: s.rfind(sub),
            "hasPrefix": lambda s, p: s.startswith(p),
            "hasSuffix": lambda s, p: s.endswith(p),
            "join": lambda items, sep="": sep.join(_to_string(i) for i in items),
            "keys": lambda m: list(m.keys()),
            "values": lambda m: list(m.values()),
            "first": lambda items: items[0] if items else None,
            "last": lambda items: items[-1] if items else None,
            "max": lambda *xs: max(xs[0] if len(xs) == 1 and isinstance(xs[0], list) else xs),
            "min": lambda *xs: min(xs[0] if len(xs) == 1 and isinstance(xs[0], list) else xs),
            "mean": lambda xs: sum(xs) / len(xs) if xs else 0.0,
            "median": lambda xs: _median(xs),
            "sort": lambda items, order="asc": sorted(items, reverse=order == "desc"),
            "reverse": lambda items: list(reversed(items)),
            "uniq": _uniq,
            "concat": lambda *lists: [x for items in lists for x in items],
            "flatten": _flatten,
            "get": _get,
            "type": type_name,
            "toPairs": lambda m: [[k, v] for k, v in m.items()],
            "fromPairs": lambda pairs: {str(k): v for k, v in pairs},
            "toJSON": lambda v: json.dumps(_go_numbers(v), indent=2, ensure_ascii=False),
            "fromJSON": _from_json,
            "toBase64": lambda s: base64.b64encode(s.encode()).decode(),
            "fromBase64": lambda s: base64.b64decode(s).decode(),
            "now": lambda: datetime.now(UTC),
            "duration": _duration,
            "date": lambda value, *layout: _to_time(value),
            # Argo's own.
            "asInt": as_int,
            "asFloat": as_float,
            "jsonpath": jsonpath,
            "toJson": to_json,
            "sprig": sprig(),
        }
    )
    return functions


def _median(items: list[Any]) -> float:
    ordered = sorted(items)
    if not ordered:
        return 0.0
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return float((ordered[middle - 1] + ordered[middle]) / 2)


# -- sprig ---------------------------------------------------------------------------------
def _b64dec(text: str) -> str:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4)).decode()
    except ValueError as exc:
        return str(exc)


def _rand(alphabet: str) -> Callable[[int], str]:
    return lambda n: "".join(random.choice(alphabet) for _ in range(int(n)))


def _default(default: Any, *value: Any) -> Any:
    given = value[0] if value else None
    return default if _empty(given) else given


def _empty(value: Any) -> bool:
    return value in (None, "", 0, False) or (isinstance(value, list | dict) and not value)


def _ternary(yes: Any, no: Any, condition: bool) -> Any:
    return yes if condition else no


def _trunc(n: int, text: str) -> str:
    return text[:n] if n >= 0 else text[n:]


def _indent(n: int, text: str) -> str:
    pad = " " * int(n)
    return pad + text.replace("\n", "\n" + pad)


def sprig() -> dict[str, Any]:
    """The sprig functions Argo exposes as ``sprig.<name>`` (a useful subset)."""
    return {
        # strings
        "trim": lambda s: str(s).strip(),
        "trimAll": lambda chars, s: str(s).strip(chars),
        "trimPrefix": lambda p, s: str(s).removeprefix(p),
        "trimSuffix": lambda p, s: str(s).removesuffix(p),
        "upper": lambda s: str(s).upper(),
        "lower": lambda s: str(s).lower(),
        "title": lambda s: string.capwords(str(s)),
        "replace": lambda old, new, s: str(s).replace(old, new),
        "repeat": lambda n, s: str(s) * int(n),
        "substr": lambda start, end, s: str(s)[int(start) : int(end)],
        "trunc": _trunc,
        "nospace": lambda s: "".join(str(s).split()),
        "contains": lambda sub, s: sub in str(s),
        "hasPrefix": lambda p, s: str(s).startswith(p),
        "hasSuffix": lambda p, s: str(s).endswith(p),
        "quote": lambda *xs: " ".join(json.dumps(_to_string(x)) for x in xs),
        "squote": lambda *xs: " ".join(f"'{_to_string(x)}'" for x in xs),
        "cat": lambda *xs: " ".join(_to_string(x) for x in xs if x is not None),
        "indent": _indent,
        "nindent": lambda n, text: "\n" + _indent(n, text),
        "split": lambda sep, s: {f"_{i}": p for i, p in enumerate(str(s).split(sep))},
        "splitList": lambda sep, s: str(s).split(sep),
        "join": lambda sep, items: sep.join(_to_string(i) for i in items),
        "toString": _to_string,
        "b64enc": lambda s: base64.b64encode(str(s).encode()).decode(),
        "b64dec": _b64dec,
        "sha256sum": lambda s: hashlib.sha256(str(s).encode()).hexdigest(),
        "sha1sum": lambda s: hashlib.sha1(str(s).encode()).hexdigest(),
        "regexMatch": lambda pattern, s: re.search(pattern, str(s)) is not None,
        "regexFind": lambda pattern, s: m.group(0) if (m := re.search(pattern, str(s))) else "",
        "regexFindAll": lambda pattern, s, n=-1: re.findall(pattern, str(s))[
            : None if n < 0 else n
        ],
        "regexReplaceAll": lambda pattern, s, repl: re.sub(
            pattern, repl.replace("$", "\\"), str(s)
        ),
        "regexSplit": lambda pattern, s, n=-1: re.split(
            pattern, str(s), maxsplit=0 if n < 0 else n - 1
        ),
        "randAlphaNum": _rand(string.ascii_letters + string.digits),
        "randAlpha": _rand(string.ascii_letters),
        "randNumeric": _rand(string.digits),
        "uuidv4": lambda: str(uuid.uuid4()),
        # numbers (int64, as in sprig)
        "add": lambda *xs: sum(_int64(x) for x in xs),
        "add1": lambda x: _int64(x) + 1,
        "sub": lambda a, b: _int64(a) - _int64(b),
        "mul": lambda *xs: math.prod(_int64(x) for x in xs),
        "div": lambda a, b: int(_int64(a) / _int64(b)),
        "mod": lambda a, b: int(math.fmod(_int64(a), _int64(b))),
        "max": lambda *xs: max(_int64(x) for x in xs),
        "min": lambda *xs: min(_int64(x) for x in xs),
        "addf": lambda *xs: sum(_float64(x) for x in xs),
        "subf": lambda a, b: _float64(a) - _float64(b),
        "mulf": lambda *xs: math.prod(_float64(x) for x in xs),
        "divf": lambda a, b: _float64(a) / _float64(b),
        "maxf": lambda *xs: max(_float64(x) for x in xs),
        "minf": lambda *xs: min(_float64(x) for x in xs),
        "floor": lambda x: float(math.floor(_float64(x))),
        "ceil": lambda x: float(math.ceil(_float64(x))),
        "round": lambda x, places=0: round(_float64(x), int(places)),
        "int": _int64,
        "int64": _int64,
        "float64": _float64,
        "atoi": lambda s: _int64(s),
        "toJson": to_json,
        "toRawJson": to_json,
        "toPrettyJson": lambda v: json.dumps(_go_numbers(v), indent=2),
        "fromJson": lambda s: _from_json(str(s)),
        # defaults and flow
        "default": _default,
        "empty": _empty,
        "coalesce": lambda *xs: next((x for x in xs if not _empty(x)), None),
        "ternary": _ternary,
        # lists and dicts
        "list": lambda *xs: list(xs),
        "first": lambda items: items[0] if items else None,
        "last": lambda items: items[-1] if items else None,
        "rest": lambda items: items[1:],
        "initial": lambda items: items[:-1],
        "uniq": _uniq,
        "has": lambda item, items: any(equal(item, x) for x in items),
        "dict": lambda *kv: {str(kv[i]): kv[i + 1] for i in range(0, len(kv) - 1, 2)},
        "keys": lambda *ms: [k for m in ms for k in m],
        "values": lambda m: list(m.values()),
        "hasKey": lambda m, k: k in m,
        "get": lambda m, k: m.get(k, ""),
        # dates
        "now": lambda: datetime.now(UTC),
        "date": lambda layout, moment: go_format(_to_time(moment), layout),
        "dateInZone": lambda layout, moment, zone: go_format(_to_time(moment), layout),
        "toDate": lambda layout, text: _to_time(text),
        "unixEpoch": lambda moment: str(int(_to_time(moment).timestamp())),
        "dateModify": lambda delta, moment: (
            _to_time(moment) + timedelta(seconds=parse_go_duration(delta))
        ),
    }
