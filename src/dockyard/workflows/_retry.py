"""Whether and when a failed attempt is retried: ``retryStrategy`` as Argo decides it.

Workflows layer. A pure decision over the attempts so far (the Retry node's children):
the policy (``Always``, ``OnFailure`` — the default —, ``OnError``, ``OnTransientError``),
the ``expression`` over ``lastRetry.*``, the ``limit`` and the ``backoff`` (``duration``
times ``factor`` to the power of the attempts so far, at most ``cap``, within
``maxDuration`` of the first attempt).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dockyard.workflows.expr import ExprError, evaluate, parse_go_duration

TRANSIENT_MARKERS = ("transient", "timeout", "connection refused", "too many requests", "deadline")


@dataclass(frozen=True)
class RetryDecision:
    give_up: bool
    wait_seconds: float = 0.0
    message: str | None = None


def _time(text: str | None, default: datetime) -> datetime:
    if not text:
        return default
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _limit(value: Any, scope: Mapping[str, Any]) -> int | None:
    if value is None:
        return None
    text = str(value)
    for key, replacement in scope.items():
        text = text.replace("{{" + key + "}}", str(replacement))
    try:
        return int(text)
    except ValueError:
        return None


def decide_retry(
    strategy: Mapping[str, Any],
    attempts: list[dict[str, Any]],
    now: datetime,
    scope: Mapping[str, Any],
    make_env: Callable[[Mapping[str, Any]], dict[str, Any]],
) -> RetryDecision:
    """Decide after a failed last attempt. ``attempts`` is non-empty."""
    last = attempts[-1]
    phase = last["phase"]
    policy = strategy.get("retryPolicy") or "OnFailure"
    if policy == "Always":
        retry = True
    elif policy == "OnError":
        retry = phase == "Error"
    elif policy == "OnTransientError":
        message = str(last.get("message", "")).lower()
        retry = any(marker in message for marker in TRANSIENT_MARKERS)
    else:
        retry = phase == "Failed"
    if not retry:
        return RetryDecision(True, message=last.get("message"))
    expression = strategy.get("expression")
    if expression:
        started = _time(last.get("startedAt"), now)
        finished = _time(last.get("finishedAt"), now)
        env = make_env(
            {
                **scope,
                "lastRetry.exitCode": _exit_code(last),
                "lastRetry.status": phase,
                "lastRetry.duration": str(int((finished - started).total_seconds())),
                "lastRetry.message": last.get("message", ""),
            }
        )
        try:
            if evaluate(str(expression), env) is not True:
                return RetryDecision(True, message="retryStrategy.expression evaluated to false")
        except ExprError as exc:
            return RetryDecision(True, message=f"retryStrategy.expression: {exc}")
    limit = _limit(strategy.get("limit"), scope)
    if limit is not None and len(attempts) > limit:
        return RetryDecision(True, message="No more retries left")
    backoff = strategy.get("backoff") or {}
    if backoff.get("duration"):
        base = parse_go_duration(str(backoff["duration"]))
        factor = float(backoff.get("factor") or 2)
        wait = base * factor ** (len(attempts) - 1)
        if backoff.get("cap"):
            wait = min(wait, parse_go_duration(str(backoff["cap"])))
        finished = _time(last.get("finishedAt"), now)
        ready_at = finished.timestamp() + wait
        if backoff.get("maxDuration"):
            first = _time(attempts[0].get("startedAt"), now)
            if ready_at > first.timestamp() + parse_go_duration(str(backoff["maxDuration"])):
                return RetryDecision(True, message="Max duration limit exceeded")
        remaining = ready_at - now.timestamp()
        if remaining > 0:
            return RetryDecision(False, wait_seconds=remaining)
    return RetryDecision(False)


def _exit_code(node: Mapping[str, Any]) -> int:
    code = (node.get("outputs") or {}).get("exitCode")
    try:
        return int(code) if code is not None else -1
    except ValueError:
        return -1
