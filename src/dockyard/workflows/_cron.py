"""CronWorkflows: create a Workflow from ``spec.workflowSpec`` on each scheduled time.

Workflows layer. Five-field cron schedules (``*/5 * * * *``, ranges, lists, steps, month
and weekday names, ``@hourly``-style macros) evaluated in UTC or ``spec.timezone``.
``concurrencyPolicy`` Allow / Forbid / Replace decides what happens when the previous run
is still active; ``startingDeadlineSeconds`` skips runs missed by more than that; history
limits trim finished runs. Status: ``lastScheduledTime``, ``active``, ``succeeded``,
``failed`` counts.
"""

from __future__ import annotations

import contextlib
import copy
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dockyard.api.errors import AlreadyExistsError, ApiError
from dockyard.control import Clock, ObjectKey, Result, SystemClock
from dockyard.store import ObjectStore
from dockyard.workflows._kinds import CRON_WORKFLOW, GROUP_VERSION, WORKFLOW

_MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}  # fmt: skip
_NAMES = {
    3: {
        m: i + 1
        for i, m in enumerate(
            ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        )
    },
    4: {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
}
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


class CronError(ValueError):
    pass


def _field(text: str, index: int) -> set[int]:
    low, high = _RANGES[index]
    values: set[int] = set()
    for part in text.lower().split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if body in ("*", "?"):
            start, end = low, high
        elif "-" in body:
            a, b = body.split("-", 1)
            start, end = _value(a, index), _value(b, index)
        else:
            start = _value(body, index)
            end = high if step_text else start
        if not (low <= start <= high and low <= end <= (7 if index == 4 else high)) or step < 1:
            raise CronError(f"cron field {text!r} is out of range {low}-{high}")
        values.update(v % 7 if index == 4 else v for v in range(start, end + 1, step))
    return values


def _value(text: str, index: int) -> int:
    names = _NAMES.get(index, {})
    if text in names:
        return names[text]
    if not text.isdigit():
        raise CronError(f"bad cron value {text!r}")
    return int(text)


class Schedule:
    def __init__(self, expression: str) -> None:
        text = _MACROS.get(expression.strip(), expression.strip())
        parts = text.split()
        if len(parts) != 5:
            raise CronError(f"cron schedule {expression!r} must have 5 fields")
        self.minutes, self.hours, self.days, self.months, self.weekdays = (
            _field(p, i) for i, p in enumerate(parts)
        )
        self.any_day = parts[2] in ("*", "?")
        self.any_weekday = parts[4] in ("*", "?")

    def matches(self, moment: datetime) -> bool:
        if moment.minute not in self.minutes or moment.hour not in self.hours:
            return False
        if moment.month not in self.months:
            return False
        day_ok = moment.day in self.days
        weekday_ok = (moment.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return day_ok and weekday_ok
        return day_ok or weekday_ok

    def next_after(self, moment: datetime) -> datetime:
        candidate = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(366 * 24 * 60):
            if self.matches(candidate):
                return candidate
            candidate += timedelta(minutes=1)
        raise CronError("no matching time within a year")


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _format(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CronReconciler:
    def __init__(self, store: ObjectStore, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock or SystemClock()

    async def reconcile(self, key: ObjectKey) -> Result | None:
        cron = self.store.try_get(CRON_WORKFLOW, key.namespace, key.name)
        if cron is None:
            return None
        spec = cron["spec"]
        status = dict(cron.get("status") or {})
        now = self.clock.now().astimezone(UTC)
        zone = ZoneInfo(spec["timezone"]) if spec.get("timezone") else UTC
        expressions = list(spec.get("schedules") or []) + (
            [spec["schedule"]] if spec.get("schedule") else []
        )
        try:
            schedules = [Schedule(e) for e in expressions]
        except CronError as exc:
            self._write_status(
                key,
                cron,
                {
                    **status,
                    "conditions": [{"type": "SpecError", "status": "True", "message": str(exc)}],
                },
            )
            return None
        children = self._children(cron)
        active = [w for w in children if not (w.get("status") or {}).get("finishedAt")]
        status["active"] = [
            {"name": w["metadata"]["name"], "namespace": key.namespace, "uid": w["metadata"]["uid"]}
            for w in active
        ]
        status["succeeded"] = sum(
            1 for w in children if (w.get("status") or {}).get("phase") == "Succeeded"
        )
        status["failed"] = sum(
            1 for w in children if (w.get("status") or {}).get("phase") in ("Failed", "Error")
        )
        last_text = status.get("lastScheduledTime") or cron["metadata"].get("creationTimestamp")
        last = _parse(last_text) if last_text else now
        due = [s.next_after(last.astimezone(zone)) for s in schedules]
        next_run = min(due) if due else None
        if next_run is not None and next_run.astimezone(UTC) <= now and not spec.get("suspend"):
            deadline = spec.get("startingDeadlineSeconds")
            late = (now - next_run.astimezone(UTC)).total_seconds()
            if deadline is None or late <= float(deadline):
                self._run(cron, next_run.astimezone(UTC), active)
            status["lastScheduledTime"] = _format(now if late > 60 else next_run)
            self._trim_history(cron, children)
        self._write_status(key, cron, status)
        anchor = _parse(status["lastScheduledTime"]) if status.get("lastScheduledTime") else last
        upcoming = [s.next_after(anchor.astimezone(zone)).astimezone(UTC) for s in schedules]
        if not upcoming:
            return None
        return Result(requeue_after=max(1.0, (min(upcoming) - now).total_seconds()))

    def _children(self, cron: dict[str, Any]) -> list[dict[str, Any]]:
        from dockyard.api.labels import parse_selector

        selector = parse_selector(f"workflows.argoproj.io/cron-workflow={cron['metadata']['name']}")
        items, _ = self.store.list(WORKFLOW, cron["metadata"].get("namespace"), selector)
        return items

    def _run(self, cron: dict[str, Any], scheduled: datetime, active: list[dict[str, Any]]) -> None:
        policy = cron["spec"].get("concurrencyPolicy") or "Allow"
        if active and policy == "Forbid":
            return
        if active and policy == "Replace":
            for workflow in active:
                with contextlib.suppress(ApiError):
                    self.store.delete(
                        WORKFLOW, workflow["metadata"]["namespace"], workflow["metadata"]["name"]
                    )
        meta = cron["metadata"]
        extra = cron["spec"].get("workflowMetadata") or {}
        workflow = {
            "apiVersion": GROUP_VERSION,
            "kind": "Workflow",
            "metadata": {
                "name": f"{meta['name']}-{int(scheduled.timestamp())}"[:253],
                "namespace": meta.get("namespace", "default"),
                "labels": {
                    **(extra.get("labels") or {}),
                    "workflows.argoproj.io/cron-workflow": meta["name"],
                },
                "annotations": {
                    **(extra.get("annotations") or {}),
                    "workflows.argoproj.io/scheduled-time": _format(scheduled),
                },
                "ownerReferences": [
                    {
                        "apiVersion": cron["apiVersion"],
                        "kind": cron["kind"],
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": copy.deepcopy(cron["spec"]["workflowSpec"]),
            "status": {"phase": "Running"},
        }
        with contextlib.suppress(AlreadyExistsError):
            self.store.create(WORKFLOW, workflow)

    def _trim_history(self, cron: dict[str, Any], children: list[dict[str, Any]]) -> None:
        spec = cron["spec"]
        for phases, limit in (
            (("Succeeded",), spec.get("successfulJobsHistoryLimit", 3)),
            (("Failed", "Error"), spec.get("failedJobsHistoryLimit", 1)),
        ):
            done = [
                w
                for w in children
                if (w.get("status") or {}).get("phase") in phases
                and (w.get("status") or {}).get("finishedAt")
            ]
            done.sort(key=lambda w: w["metadata"].get("creationTimestamp", ""), reverse=True)
            for workflow in done[int(limit) :]:
                with contextlib.suppress(ApiError):
                    self.store.delete(
                        WORKFLOW, workflow["metadata"]["namespace"], workflow["metadata"]["name"]
                    )

    def _write_status(self, key: ObjectKey, cron: dict[str, Any], status: dict[str, Any]) -> None:
        if status == (cron.get("status") or {}):
            return

        def change(obj: dict[str, Any]) -> None:
            obj["status"] = status

        with contextlib.suppress(ApiError):
            self.store.mutate(CRON_WORKFLOW, key.namespace, key.name, change)
