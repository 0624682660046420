"""Waiting for an object to reach a condition: conditions and the list+watch bookkeeping.

Both clients run the same loop — list, check, watch from the list's resourceVersion, check
each event, re-watch when the stream ends, relist on 410 Gone — and differ only in whether
they ``await``. Everything that decides something lives here in :class:`WaitTracker`, a
plain state machine with an injected clock, so the loop in each client is a few lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from dockyard.client._errors import ConditionUnreachableError, WaitTimeoutError
from dockyard.client._watch import BOOKMARK, DELETED, WatchEvent

Object = dict[str, Any]
Predicate = Callable[[Object | None], bool]

# Phases no object leaves once reached; a wait for another phase can then never succeed.
TERMINAL_PHASES: Final = frozenset({"Succeeded", "Failed", "Error"})

_MIN_BACKOFF: Final = 0.05
_MAX_BACKOFF: Final = 1.0


def phase_of(obj: Object | None) -> str | None:
    """``status.phase`` of ``obj``, or ``None``."""
    if obj is None:
        return None
    phase = (obj.get("status") or {}).get("phase")
    return str(phase) if phase is not None else None


def condition_status(obj: Object | None, condition_type: str) -> str | None:
    """``status`` of the ``status.conditions[]`` entry of that type (case-insensitive type)."""
    if obj is None:
        return None
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if isinstance(cond, dict) and str(cond.get("type", "")).lower() == condition_type.lower():
            return str(cond.get("status"))
    return None


@dataclass(frozen=True, slots=True)
class WaitCondition:
    """What a wait is for.

    ``met(obj)`` decides success (``obj`` is ``None`` while the object does not exist);
    ``dead_end(obj)`` returns why the condition can never be met from ``obj``, or ``None``.
    """

    description: str
    met: Predicate
    dead_end: Callable[[Object | None], str | None] = lambda _obj: None


def for_phase(phase: str) -> WaitCondition:
    """``status.phase == phase``; a different terminal phase is a dead end."""

    def dead_end(obj: Object | None) -> str | None:
        current = phase_of(obj)
        if current in TERMINAL_PHASES and current != phase:
            return f"phase is {current}, which is final"
        return None

    return WaitCondition(f"phase={phase}", lambda obj: phase_of(obj) == phase, dead_end)


def for_condition(condition_type: str, status: str = "True") -> WaitCondition:
    """A ``status.conditions[]`` entry of that type has that status (case-insensitive)."""

    def met(obj: Object | None) -> bool:
        found = condition_status(obj, condition_type)
        return found is not None and found.lower() == status.lower()

    suffix = "" if status == "True" else f"={status}"
    return WaitCondition(f"condition={condition_type}{suffix}", met)


def for_deletion() -> WaitCondition:
    """The object no longer exists."""
    return WaitCondition("delete", lambda obj: obj is None)


def for_predicate(predicate: Predicate) -> WaitCondition:
    """Any caller-supplied test of the object (``None`` while it does not exist)."""
    name = getattr(predicate, "__name__", "predicate")
    return WaitCondition(name, predicate)


def build_condition(
    predicate: Predicate | None,
    phase: str | None,
    condition: str | None,
    deleted: bool,
) -> WaitCondition:
    """The one :class:`WaitCondition` the keyword arguments of ``wait_for`` ask for.

    Exactly one of them must be given (``ValueError`` otherwise).
    """
    chosen = [c for c in (predicate, phase, condition, deleted or None) if c is not None]
    if len(chosen) != 1:
        raise ValueError("wait_for needs exactly one of predicate, phase, condition, deleted")
    if predicate is not None:
        return for_predicate(predicate)
    if phase is not None:
        return for_phase(phase)
    if condition is not None:
        name, _, status = condition.partition("=")
        return for_condition(name, status or "True")
    return for_deletion()


def describe_state(obj: Object | None) -> str:
    """How a timeout message describes the last state seen."""
    if obj is None:
        return "it does not exist"
    phase = phase_of(obj)
    if obj.get("metadata", {}).get("deletionTimestamp"):
        return f"it is being deleted (phase {phase or 'unknown'})"
    return f"phase is {phase}" if phase else "it has no status.phase yet"


class WaitTracker:
    """State of one ``wait_for``: last object seen, resume point, deadline, backoff.

    Drive it as: while :attr:`needs_list`, feed it a list result with :meth:`observe_list`;
    otherwise watch from :attr:`resource_version` for at most :meth:`remaining` seconds,
    feeding each event to :meth:`observe_event`; on 410 Gone call :meth:`relist`; when a
    watch ends call :meth:`watch_ended` and sleep what it returns. ``observe_*`` return
    ``True`` once the condition is met (the object is then :attr:`result`) and raise
    :class:`ConditionUnreachableError`; :meth:`check_deadline` raises
    :class:`WaitTimeoutError`.
    """

    def __init__(
        self,
        target: str,
        name: str,
        condition: WaitCondition,
        timeout: float,
        clock: Callable[[], float],
    ) -> None:
        self.target = target
        self.name = name
        self.condition = condition
        self._clock = clock
        self._timeout = timeout
        self._deadline = clock() + timeout
        self.needs_list = True
        self.resource_version: str | None = None
        self.result: Object | None = None
        self._events_since_watch = 0
        self._backoff = _MIN_BACKOFF

    def remaining(self) -> float:
        """Seconds left before the deadline (never negative)."""
        return max(0.0, self._deadline - self._clock())

    def check_deadline(self) -> None:
        """Raise :class:`WaitTimeoutError` once the deadline has passed."""
        if self.remaining() <= 0:
            raise WaitTimeoutError(
                f"timed out after {self._timeout:g}s waiting for {self.target} to reach "
                f"{self.condition.description}: {describe_state(self.result)}",
                self.result,
            )

    def observe_list(self, listing: Object) -> bool:
        """Take a list result (of the collection, possibly filtered to the name)."""
        self.needs_list = False
        self.resource_version = _rv(listing)
        found = next(
            (
                item
                for item in listing.get("items") or ()
                if (item.get("metadata") or {}).get("name") == self.name
            ),
            None,
        )
        return self._check(found)

    def observe_event(self, event: WatchEvent) -> bool:
        """Take one watch event; events for other names only advance the resume point."""
        self._events_since_watch += 1
        if event.resource_version:
            self.resource_version = event.resource_version
        if event.type == BOOKMARK or event.name != self.name:
            return False
        return self._check(None if event.type == DELETED else event.object)

    def relist(self) -> None:
        """The resume point is gone (410): the next step must list again."""
        self.needs_list = True
        self.resource_version = None

    def watch_ended(self) -> float:
        """A watch stream ended; return how long to sleep before the next one.

        Zero after a stream that delivered events; otherwise an exponential backoff, so a
        server that keeps closing idle watches is not hammered.
        """
        if self._events_since_watch:
            self._events_since_watch = 0
            self._backoff = _MIN_BACKOFF
            return 0.0
        delay = min(self._backoff, self.remaining())
        self._backoff = min(self._backoff * 2, _MAX_BACKOFF)
        return delay

    def _check(self, obj: Object | None) -> bool:
        self.result = obj
        if self.condition.met(obj):
            return True
        why = self.condition.dead_end(obj)
        if why is not None:
            raise ConditionUnreachableError(
                f"{self.target} will not reach {self.condition.description}: {why}", obj
            )
        return False


def _rv(obj: Object) -> str | None:
    rv = (obj.get("metadata") or {}).get("resourceVersion")
    return str(rv) if rv not in (None, "") else None
