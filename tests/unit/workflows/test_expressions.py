"""expr-lang, govaluate, depends, JSONPath and tag substitution, as tables."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.workflows._depends import DependsError, evaluate_depends, parse_depends
from dockyard.workflows._tags import UnresolvedError, render
from dockyard.workflows.expr import (
    ExprError,
    evaluate,
    evaluate_when,
    jsonpath,
    nested_env,
    parse_go_duration,
    to_text,
)

ENV = nested_env(
    {
        "inputs.parameters.n": "3",
        "inputs.parameters.week-temps": '{"avg": 35.8}',
        "workflow.parameters.json": '{"a": [{"x": 1}, {"x": 2}]}',
        "workflow.creationTimestamp": "2024-05-01T10:00:00Z",
        "tasks.flip.outputs.result": "heads",
    }
)

EXPR_CASES = [
    ("arith-precedence", "1 + 2 * 3", 7),
    ("power-right-assoc", "2 ** 3 ** 2", 512.0),
    ("division-is-float", "7 / 2", 3.5),
    ("modulo", "7 % 3", 1),
    ("string-concat", "'a' + 'b'", "ab"),
    ("ternary", "tasks.flip.outputs.result == 'heads' ? 1 : 2", 1),
    ("nil-coalesce-missing", "tasks.other.outputs.result ?? 'fb'", "fb"),
    ("nil-coalesce-present", "tasks.flip.outputs.result ?? 'fb'", "heads"),
    ("optional-chain", "tasks?.nope?.x", None),
    ("bracket-dashed", "inputs.parameters['week-temps']", '{"avg": 35.8}'),
    ("asInt", "asInt(inputs.parameters.n) * 10", 30),
    ("asFloat", "asFloat('1.5') + 1", 2.5),
    ("filter-closure", "filter([1, 2, 3], {# > 1})", [2, 3]),
    ("map-index", "map([[1, 2]], {#[0] + #[1]})", [3]),
    ("all-any", "all([1, 2], # > 0) && any([1, 2], # > 1)", True),
    ("range", "1..3", [1, 2, 3]),
    ("in-array", "2 in [1, 2]", True),
    ("not-in", "'z' not in ['a']", True),
    ("matches", "'abc' matches '^a'", True),
    ("string-ops", "'abc' startsWith 'a' and 'abc' endsWith 'c' and 'abc' contains 'b'", True),
    ("map-literal-toJson", "toJson({a: 1, b: [true, nil]})", '{"a":1,"b":[true,null]}'),
    ("len", "len('hello')", 5),
    ("slice", "[1, 2, 3, 4][1:3]", [2, 3]),
    ("negative-index", "[1, 2, 3][-1]", 3),
    ("sprig-add-variadic", "sprig.add(1, 2, 3)", 6),
    ("sprig-b64dec", "sprig.b64dec('aGk=')", "hi"),
    ("sprig-date-year", "sprig.date('2006', workflow.creationTimestamp)", "2024"),
    ("sprig-upper", "sprig.upper('x')", "X"),
    ("jsonpath-fn", "jsonpath(workflow.parameters.json, '$.a[*].x')", [1, 2]),
    ("jsonpath-dashed-input", "jsonpath(inputs.parameters['week-temps'], '$.avg')", 35.8),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in EXPR_CASES], ids=[c[0] for c in EXPR_CASES]
)
def test_expr(text: str, expected: Any) -> None:
    assert evaluate(text, ENV) == expected


EXPR_ERRORS = [
    ("unknown-name", "nope + 1"),
    ("type-mismatch", "'a' + 1"),
    ("and-needs-bool", "1 && true"),
    ("unterminated", "'abc"),
    ("trailing", "1 2"),
    ("nil-member", "tasks.other.outputs.result"),
]


@pytest.mark.parametrize("text", [c[1] for c in EXPR_ERRORS], ids=[c[0] for c in EXPR_ERRORS])
def test_expr_errors(text: str) -> None:
    env = nested_env({"tasks.flip.outputs.result": "heads"})
    with pytest.raises(ExprError):
        evaluate(text, env)


WHEN_CASES = [
    ("bare-words-equal", "heads == heads", True),
    ("bare-words-differ", "tails == heads", False),
    ("numbers", "5 > 3", True),
    ("number-vs-word", "7 < 10 && 1 == 1", True),
    ("regex", "hello =~ '^he'", True),
    ("regex-negated", "hello !~ '^x'", True),
    ("parentheses-or", "( tails == heads ) || ( 2 >= 2 )", True),
    ("quoted", "'hello world' == \"hello world\"", True),
    ("status-failed", "Failed == Failed", True),
    ("bool-literal", "false", False),
    ("not", "!(a == b)", True),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in WHEN_CASES], ids=[c[0] for c in WHEN_CASES]
)
def test_when(text: str, expected: bool) -> None:
    assert evaluate_when(text) is expected


def test_when_must_be_boolean() -> None:
    with pytest.raises(ExprError):
        evaluate_when("heads")


PHASES = {"A": "Succeeded", "B": "Failed", "C": "Skipped", "should-x": "Omitted"}


def _result(task: str, result: str) -> bool:
    mapping = {"Errored": "Error"}
    return PHASES.get(task) == mapping.get(result, result)


DEPENDS_CASES = [
    ("bare-succeeded", "A", True),
    ("bare-skipped-counts", "C", True),
    ("bare-failed", "B", False),
    ("explicit-failed", "B.Failed", True),
    ("and-or-parens", "A && (B.Succeeded || B.Failed)", True),
    ("not", "!B.Succeeded", True),
    ("dashed-name", "should-x.Omitted", True),
    ("precedence-and-over-or", "B || A && C", True),
    ("double-negation", "!!A", True),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in DEPENDS_CASES], ids=[c[0] for c in DEPENDS_CASES]
)
def test_depends(text: str, expected: bool) -> None:
    assert evaluate_depends(parse_depends(text), _result) is expected


@pytest.mark.parametrize(
    "text", ["A &&", "A.Bogus", "(A", "A B"], ids=["dangling", "result", "paren", "juxtaposed"]
)
def test_depends_errors(text: str) -> None:
    with pytest.raises(DependsError):
        parse_depends(text)


DOC = {
    "employees": [
        {"name": "Baris", "age": 43},
        {"name": "Mo", "age": 42},
        {"name": "Jai", "age": 44},
    ]
}
JSONPATH_CASES = [
    ("key", "$.employees[0].name", "Baris"),
    ("wildcard", "$.employees[*].name", ["Baris", "Mo", "Jai"]),
    ("slice", "$.employees[0:1]", [{"name": "Baris", "age": 43}]),
    ("filter-eq", '$.employees[?(@.name=="Baris")].age', [43]),
    ("filter-and", "$.employees[?(@.age>42 && @.age<44)].age", [43]),
    ("negative-index", "$.employees[-1].name", "Jai"),
    ("recursive", "$..age", [43, 42, 44]),
    ("quoted-key", "$['employees'][1]['name']", "Mo"),
]


@pytest.mark.parametrize(
    ("path", "expected"), [c[1:] for c in JSONPATH_CASES], ids=[c[0] for c in JSONPATH_CASES]
)
def test_jsonpath(path: str, expected: Any) -> None:
    assert jsonpath(DOC, path) == expected


SCOPE = {"inputs.parameters.x": "1", "item": {"a": 2}, "item.a": 2}
RENDER_CASES = [
    ("simple", "v={{inputs.parameters.x}}", "v=1"),
    ("spaces", "{{ inputs.parameters.x }}", "1"),
    ("expression", "{{=asInt(inputs.parameters.x) + 1}}", "2"),
    ("expression-braces", "{{=toJson({k: {j: 1}})}}", '{"k":{"j":1}}'),
    ("item-map", "{{item}}", '{"a":2}'),
    ("item-field", "{{item.a}}", "2"),
    ("unknown-left", "{{steps.a.outputs.result}}", "{{steps.a.outputs.result}}"),
    (
        "unbound-expression-left",
        "{{=steps.a.outputs.result ?? 'x'}}",
        "{{=steps.a.outputs.result ?? 'x'}}",
    ),
    ("multi-line-expression", "{{=\n  1 +\n  2\n}}", "3"),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in RENDER_CASES], ids=[c[0] for c in RENDER_CASES]
)
def test_render(text: str, expected: str) -> None:
    assert render(text, SCOPE) == expected


def test_render_strict_names_the_tag() -> None:
    with pytest.raises(UnresolvedError, match=r"steps\.a\.outputs\.result"):
        render("{{steps.a.outputs.result}}", SCOPE, strict=True)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10", 10.0), ("1m30s", 90.0), ("2h", 7200.0), ("500ms", 0.5), (5, 5.0)],
    ids=["bare", "composite", "hours", "millis", "int"],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_go_duration(text) == seconds


def test_to_text_go_style() -> None:
    assert [to_text(v) for v in (30, 35.0, 35.8, [1], True, "s")] == [
        "30",
        "35",
        "35.8",
        "[1]",
        "true",
        "s",
    ]
