"""``dockyard describe``: a human-readable account of one object.

Common metadata first (name, namespace, labels, annotations, age, owners), then a section
per kind: Pods get status, node, times and one block per container with its state and exit
code; every other kind shows its spec and status as indented YAML. Conditions are a table
for every kind. Pure text rendering, so it is tested without a terminal.
"""

from __future__ import annotations

import shlex
from datetime import datetime
from typing import Any

import yaml

from dockyard.cli._columns import human_duration, parse_time
from dockyard.client import KindInfo

Object = dict[str, Any]
HIDDEN_ANNOTATIONS = frozenset({"dockyard.io/last-applied-configuration"})
_LABEL_WIDTH = 16


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def field(self, label: str, value: Any, indent: int = 0) -> None:
        pad = " " * indent
        self.lines.append(f"{pad}{label + ':':<{_LABEL_WIDTH}}{_text(value)}".rstrip())

    def multi(self, label: str, values: list[str], indent: int = 0) -> None:
        if not values:
            self.field(label, "<none>", indent)
            return
        self.field(label, values[0], indent)
        self.lines += [" " * (indent + _LABEL_WIDTH) + v for v in values[1:]]

    def heading(self, label: str, indent: int = 0) -> None:
        self.lines.append(" " * indent + label + ":")

    def block(self, text: str, indent: int) -> None:
        self.lines += [" " * indent + line for line in text.rstrip("\n").splitlines()]


def _text(value: Any) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "<none>"
    return str(value)


def _when(value: Any, now: datetime) -> str | None:
    moment = parse_time(value)
    if moment is None:
        return None
    return f"{value} ({human_duration((now - moment).total_seconds())} ago)"


def _pairs(mapping: Any) -> list[str]:
    if not isinstance(mapping, dict):
        return []
    return [f"{k}={v}" for k, v in mapping.items()]


def describe(obj: Object, info: KindInfo, now: datetime) -> str:
    """The text of ``dockyard describe`` for ``obj``."""
    w = _Writer()
    meta = obj.get("metadata") or {}
    raw_status = obj.get("status")
    status: dict[str, Any] = raw_status if isinstance(raw_status, dict) else {}
    w.field("Name", meta.get("name"))
    if info.namespaced:
        w.field("Namespace", meta.get("namespace"))
    w.field("Kind", f"{obj.get('kind', info.kind)} ({obj.get('apiVersion', info.api_version)})")
    w.multi("Labels", _pairs(meta.get("labels")))
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in HIDDEN_ANNOTATIONS
    }
    w.multi("Annotations", _pairs(annotations))
    w.field("Created", _when(meta.get("creationTimestamp"), now))
    if meta.get("deletionTimestamp"):
        w.field("Deleting since", _when(meta["deletionTimestamp"], now))
    owners = [
        f"{o.get('kind')}/{o.get('name')}"
        for o in meta.get("ownerReferences") or ()
        if isinstance(o, dict)
    ]
    if owners:
        w.multi("Controlled By", owners)
    if meta.get("finalizers"):
        w.multi("Finalizers", [str(f) for f in meta["finalizers"]])
    if not info.group and info.kind == "Pod":
        _pod(w, obj, status, now)
    else:
        _generic(w, obj, status)
    _conditions(w, status)
    return "\n".join(w.lines) + "\n"


def _pod(w: _Writer, obj: Object, status: dict[str, Any], now: datetime) -> None:
    spec = obj.get("spec") or {}
    phase = "Terminating" if (obj.get("metadata") or {}).get("deletionTimestamp") else None
    w.field("Status", phase or status.get("phase") or "Pending")
    for key, label in (("reason", "Reason"), ("message", "Message")):
        if status.get(key):
            w.field(label, status[key])
    w.field("Node", status.get("nodeName") or spec.get("nodeName"))
    w.field("Start Time", _when(status.get("startTime"), now))
    if status.get("finishTime") or status.get("completionTime"):
        w.field("Finish Time", _when(status.get("finishTime") or status.get("completionTime"), now))
    w.field("Restart Policy", spec.get("restartPolicy"))
    if spec.get("priority") is not None:
        w.field("Priority", spec.get("priority"))
    if spec.get("nodeSelector"):
        w.multi("Node-Selectors", _pairs(spec["nodeSelector"]))
    statuses = {
        s.get("name"): s
        for key in ("initContainerStatuses", "containerStatuses")
        for s in status.get(key) or ()
        if isinstance(s, dict)
    }
    for key, label in (("initContainers", "Init Containers"), ("containers", "Containers")):
        containers = [c for c in spec.get(key) or () if isinstance(c, dict)]
        if not containers and key == "initContainers":
            continue
        w.heading(label)
        for container in containers:
            _container(w, container, statuses.get(container.get("name")), now)
    volumes = [v for v in spec.get("volumes") or () if isinstance(v, dict)]
    if volumes:
        w.heading("Volumes")
        for volume in volumes:
            source = ", ".join(k for k in volume if k != "name") or "<none>"
            w.field(str(volume.get("name")), source, indent=2)


def _container(
    w: _Writer, container: dict[str, Any], status: dict[str, Any] | None, now: datetime
) -> None:
    w.heading(str(container.get("name")), indent=2)
    w.field("Image", container.get("image"), indent=4)
    if container.get("command"):
        w.field("Command", shlex.join(str(c) for c in container["command"]), indent=4)
    if container.get("args"):
        w.field("Args", shlex.join(str(a) for a in container["args"]), indent=4)
    if container.get("workingDir"):
        w.field("Working Dir", container["workingDir"], indent=4)
    resources = container.get("resources") or {}
    for key, label in (("requests", "Requests"), ("limits", "Limits")):
        if resources.get(key):
            w.field(label, ", ".join(_pairs(resources[key])), indent=4)
    env = [
        f"{e.get('name')}={e.get('value', '')}"
        for e in container.get("env") or ()
        if isinstance(e, dict)
    ]
    if env:
        w.multi("Environment", env, indent=4)
    w.field("State", _state(status, now), indent=4)
    if status is not None:
        if status.get("lastState"):
            w.field("Last State", _state({"state": status["lastState"]}, now), indent=4)
        w.field("Restart Count", status.get("restartCount", 0), indent=4)


def _state(status: dict[str, Any] | None, now: datetime) -> str:
    """``Running (since ...)``, ``Terminated (exit code 1, Error)``, ``Waiting (reason)``."""
    if status is None:
        return "Waiting"
    raw_state = status.get("state")
    state: dict[str, Any] = raw_state if isinstance(raw_state, dict) else {}
    if "terminated" in state:
        t = state["terminated"] or {}
        details = [f"exit code {t.get('exitCode', '?')}"]
        details += [str(t[k]) for k in ("reason", "message") if t.get(k)]
        return f"Terminated ({', '.join(details)})"
    if "running" in state:
        since = _when((state["running"] or {}).get("startedAt"), now)
        return f"Running (since {since})" if since else "Running"
    if "waiting" in state:
        why = (state["waiting"] or {}).get("reason")
        return f"Waiting ({why})" if why else "Waiting"
    if status.get("exitCode") is not None:
        return f"Terminated (exit code {status['exitCode']})"
    return "Running" if status.get("ready") or status.get("started") else "Waiting"


def _generic(w: _Writer, obj: Object, status: dict[str, Any]) -> None:
    if status.get("phase"):
        w.field("Status", status["phase"])
    for key in ("reason", "message"):
        if status.get(key):
            w.field(key.capitalize(), status[key])
    if obj.get("spec"):
        w.heading("Spec")
        w.block(yaml.safe_dump(obj["spec"], sort_keys=False), indent=2)
    rest = {
        k: v for k, v in status.items() if k not in ("phase", "reason", "message", "conditions")
    }
    if rest:
        w.heading("Status Details")
        w.block(yaml.safe_dump(rest, sort_keys=False), indent=2)


def _conditions(w: _Writer, status: dict[str, Any]) -> None:
    conditions = [c for c in status.get("conditions") or () if isinstance(c, dict)]
    if not conditions:
        return
    w.heading("Conditions")
    rows = [
        [str(c.get(k) or "") for k in ("type", "status", "reason", "message")] for c in conditions
    ]
    headers = ["Type", "Status", "Reason", "Message"]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(4)]
    for r in [headers, *rows]:
        w.lines.append(
            ("  " + "   ".join(c.ljust(wd) for c, wd in zip(r, widths, strict=True))).rstrip()
        )
