"""Status values returned by scheduling-framework plugins.

Expected outcomes of a plugin are values, never exceptions: exceptions mean a bug or an
infrastructure failure. Each code says what the framework does next.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Code(enum.Enum):
    """Outcome of one plugin call, documented by what happens next."""

    SUCCESS = "Success"
    """The phase continues with the next plugin."""
    UNSCHEDULABLE = "Unschedulable"
    """The pod does not fit now; it may fit after the cluster changes (it is retried)."""
    UNRESOLVABLE = "UnschedulableAndUnresolvable"
    """The pod can never fit as requested (bad request, no such GPU model); not retried."""
    WAIT = "Wait"
    """Permit only: hold the decision until approved or the timeout expires."""
    SKIP = "Skip"
    """Pre-filter/pre-score only: the plugin has nothing to do for this pod."""
    ERROR = "Error"
    """An internal error; the cycle is aborted and the pod is retried with backoff."""


@dataclass(frozen=True, slots=True)
class Status:
    """A plugin's verdict: a code, human-readable reasons and the plugin that said it."""

    code: Code = Code.SUCCESS
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @property
    def ok(self) -> bool:
        """True for SUCCESS and SKIP, the two codes that let a phase continue."""
        return self.code in (Code.SUCCESS, Code.SKIP)

    def message(self) -> str:
        """Reasons joined for display, e.g. in ``dockyard describe pod``."""
        return "; ".join(self.reasons)


SUCCESS = Status()


def unschedulable(plugin: str, *reasons: str) -> Status:
    """Shorthand for an UNSCHEDULABLE status from ``plugin``."""
    return Status(Code.UNSCHEDULABLE, tuple(reasons), plugin)


def unresolvable(plugin: str, *reasons: str) -> Status:
    """Shorthand for an UNRESOLVABLE status from ``plugin``."""
    return Status(Code.UNRESOLVABLE, tuple(reasons), plugin)
