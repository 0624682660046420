"""Parsing the small languages of the command line: ``KIND/NAME`` references, durations,
and ``wait --for`` conditions. Pure functions; errors are :class:`CliError` naming the input.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.cli._errors import CliError

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in ``30s``, ``2m``, ``1h30m``, ``500ms`` or plain ``45``/``2.5`` (seconds)."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        pos, seconds = 0, 0.0
        for match in _DURATION_PART.finditer(value):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            pos = match.end()
        if pos != len(value) or not value:
            raise CliError(
                f'invalid duration "{text}": use seconds or a unit, e.g. 30s, 2m, 1h30m'
            ) from None
    if seconds < 0:
        raise CliError(f'invalid duration "{text}": must not be negative')
    return seconds


def split_ref(ref: str) -> tuple[str, str]:
    """``KIND/NAME`` as ``(kind, name)``."""
    kind, sep, name = ref.partition("/")
    if not sep or not kind or not name or "/" in name:
        raise CliError(f'"{ref}" is not of the form KIND/NAME')
    return kind, name


def parse_targets(args: Sequence[str]) -> list[tuple[str, str]]:
    """Objects named as ``KIND/NAME...`` or as ``KIND NAME...`` (kubectl's two forms)."""
    if not args:
        raise CliError("name a resource: KIND/NAME or KIND NAME")
    if "/" in args[0]:
        return [split_ref(a) for a in args]
    if len(args) < 2:
        raise CliError(f'name the {args[0]} to use: "{args[0]} NAME" or "{args[0]}/NAME"')
    kind, names = args[0], args[1:]
    for n in names:
        if "/" in n:
            raise CliError(f'"{n}": mix of KIND NAME and KIND/NAME forms')
    return [(kind, n) for n in names]


POD_WORDS = frozenset({"pod", "pods", "po"})


def parse_pod(ref: str) -> str:
    """A Pod name from ``NAME`` or ``pod/NAME``; other kinds are refused."""
    if "/" not in ref:
        return ref
    kind, name = split_ref(ref)
    if kind.lower() not in POD_WORDS:
        raise CliError(f'logs are kept for pods only, not "{kind}"')
    return name


@dataclass(frozen=True, slots=True)
class WaitFor:
    """A parsed ``--for``: keyword arguments for ``Client.wait_for``."""

    kwargs: dict[str, Any]


def parse_wait_for(text: str) -> WaitFor:
    """``phase=P``, ``jsonpath={.status.phase}=P``, ``condition=C[=Status]`` or ``delete``."""
    key, _, value = text.partition("=")
    key = key.strip().lower()
    if key == "delete" and not value:
        return WaitFor({"deleted": True})
    if key == "phase" and value:
        return WaitFor({"phase": value})
    if key == "jsonpath":
        path, _, wanted = value.rpartition("=")
        if path.strip("'\"") in ("{.status.phase}", ".status.phase") and wanted:
            return WaitFor({"phase": wanted})
    if key == "condition" and value:
        return WaitFor({"condition": value})
    raise CliError(f'invalid --for "{text}": use phase=PHASE, condition=TYPE[=STATUS] or delete')


def object_ref(obj: dict[str, Any]) -> str:
    """``pod/NAME`` or ``workflow.argoproj.io/NAME`` for an object, as kubectl prints it."""
    api_version = str(obj.get("apiVersion", ""))
    group = api_version.rpartition("/")[0]
    kind = str(obj.get("kind", "")).lower()
    name = (obj.get("metadata") or {}).get("name", "")
    return f"{kind}.{group}/{name}" if group else f"{kind}/{name}"
