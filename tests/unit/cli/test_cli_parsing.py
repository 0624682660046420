"""The small languages of the command line, and age formatting."""

from __future__ import annotations

import pytest

from dockyard.cli._columns import human_duration
from dockyard.cli._errors import CliError
from dockyard.cli._refs import parse_duration, parse_targets, parse_wait_for


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("2m", 120), ("1h30m", 5400), ("45", 45), ("2.5", 2.5), ("500ms", 0.5),
     ("1d", 86400), ("0", 0)],
    ids=["seconds", "minutes", "compound", "plain", "fraction", "millis", "days", "zero"],
)  # fmt: skip
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "m5", "-3", "1h 30m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(CliError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["pod/a"], [("pod", "a")]),
        (["pod/a", "wf/b"], [("pod", "a"), ("wf", "b")]),
        (["pods", "a", "b"], [("pods", "a"), ("pods", "b")]),
    ],
    ids=["ref", "refs", "kind-names"],
)
def test_parse_targets(args: list[str], expected: list[tuple[str, str]]) -> None:
    assert parse_targets(args) == expected


@pytest.mark.parametrize("args", [[], ["pods"], ["pod/"], ["pod/a/b"], ["pods", "a/b"]])
def test_parse_targets_rejects(args: list[str]) -> None:
    with pytest.raises(CliError):
        parse_targets(args)


@pytest.mark.parametrize(
    ("text", "kwargs"),
    [
        ("phase=Succeeded", {"phase": "Succeeded"}),
        ("jsonpath={.status.phase}=Failed", {"phase": "Failed"}),
        ("condition=Ready", {"condition": "Ready"}),
        ("condition=Ready=False", {"condition": "Ready=False"}),
        ("delete", {"deleted": True}),
    ],
    ids=["phase", "jsonpath", "condition", "condition-status", "delete"],
)
def test_parse_wait_for(text: str, kwargs: dict[str, object]) -> None:
    assert parse_wait_for(text).kwargs == kwargs


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5, "5s"), (119, "119s"), (200, "3m20s"), (1500, "25m"), (4 * 3600 + 600, "4h10m"),
     (30 * 3600, "30h"), (3 * 86400 + 4 * 3600, "3d4h"), (20 * 86400, "20d"), (-5, "<invalid>")],
    ids=["s", "under-2m", "m-s", "m", "h-m", "h", "d-h", "d", "negative"],
)  # fmt: skip
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text
