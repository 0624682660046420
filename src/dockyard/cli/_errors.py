"""How the CLI reports failures: one place that turns exceptions into messages and exit codes.

Commands raise :class:`CliError` for bad local input and let SDK errors propagate;
:func:`report` prints them kubectl-style on stderr. API errors read
``Error from server (Reason): message`` followed by one ``  field: message`` line per cause.
"""

from __future__ import annotations

from rich.console import Console

from dockyard.client import (
    ApiError,
    DockyardError,
    ServerUnreachableError,
    UnauthorizedError,
    UnknownKindError,
    WaitError,
)


class CliError(Exception):
    """A problem with the user's input or environment, reported as ``error: <message>``."""


def describe_error(exc: BaseException) -> list[str]:
    """The lines that report ``exc`` to the user."""
    if isinstance(exc, ApiError):
        lines = [f"Error from server ({exc.reason}): {exc.message}"]
        lines += [f"  {c.field or '<object>'}: {c.message or c.reason}" for c in exc.causes]
        if isinstance(exc, UnauthorizedError):
            lines.append(
                "Pass --token or set DOCKYARD_TOKEN, or point --data-dir at the server's data "
                "directory (its 'token' file)."
            )
        return lines
    if isinstance(exc, ServerUnreachableError):
        return [
            f"error: cannot connect to the Dockyard server at {exc.server} ({exc.detail}).",
            "Is it running? Start one with: dockyard up",
        ]
    if isinstance(exc, UnknownKindError | WaitError | DockyardError | CliError):
        return [f"error: {exc}"]
    return [f"error: {type(exc).__name__}: {exc}"]


def report(exc: BaseException, err: Console) -> None:
    """Print ``exc`` on the error console without markup interpretation."""
    for line in describe_error(exc):
        err.print(line, markup=False, highlight=False, soft_wrap=True)
