"""What ``dockyard get`` shows for each kind: column headers and cell values.

Pods, Nodes and Namespaces get purpose-built columns; every other kind (Workflows,
Sandboxes, anything registered later) shows NAME, STATUS when its objects have a
``status.phase``, and AGE. Cells are computed from the plain object dicts, with the
current time passed in so ages are testable.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dockyard.api.annotations import GPU_ASSIGNMENT
from dockyard.client import KindInfo

Object = dict[str, Any]
Cell = Callable[[Object, datetime], str]


def utcnow() -> datetime:
    """The current time (one place to read the clock)."""
    return datetime.now(UTC)


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime; ``None`` when absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def human_duration(seconds: float) -> str:
    """kubectl-style short duration: ``45s``, ``3m20s``, ``25m``, ``5h10m``, ``30h``, ``3d4h``."""
    s = int(seconds)
    if s < 0:
        return "<invalid>"
    if s < 120:
        return f"{s}s"
    m, h, d = s // 60, s // 3600, s // 86400
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if h < 3:
        return f"{m}m"
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    return f"{d}d"


def age(obj: Object, now: datetime) -> str:
    """Time since ``metadata.creationTimestamp``; ``<unknown>`` without one."""
    created = parse_time(_meta(obj).get("creationTimestamp"))
    return human_duration((now - created).total_seconds()) if created else "<unknown>"


def _meta(obj: Object) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _status(obj: Object) -> dict[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, dict) else {}


def name(obj: Object, _now: datetime) -> str:
    """``metadata.name``."""
    return str(_meta(obj).get("name", ""))


def namespace(obj: Object, _now: datetime) -> str:
    """``metadata.namespace``."""
    return str(_meta(obj).get("namespace", ""))


def phase(obj: Object, _now: datetime) -> str:
    """``Terminating`` while being deleted, else ``status.phase`` (``-`` when unset)."""
    if _meta(obj).get("deletionTimestamp"):
        return "Terminating"
    return str(_status(obj).get("phase") or "-")


def pod_phase(obj: Object, now: datetime) -> str:
    """A Pod's phase; a Pod with no status yet is ``Pending``."""
    shown = phase(obj, now)
    return "Pending" if shown == "-" else shown


def pod_node(obj: Object, _now: datetime) -> str:
    """The node a Pod is bound to, or ``<none>``."""
    spec = obj.get("spec") or {}
    return str(_status(obj).get("nodeName") or spec.get("nodeName") or "<none>")


def restarts(obj: Object, _now: datetime) -> str:
    """Sum of ``status.containerStatuses[].restartCount``."""
    statuses = _status(obj).get("containerStatuses") or ()
    return str(sum(int(s.get("restartCount") or 0) for s in statuses if isinstance(s, dict)))


def reason(obj: Object, _now: datetime) -> str:
    """``status.reason`` or ``<none>``."""
    return str(_status(obj).get("reason") or "<none>")


def gpus(obj: Object, _now: datetime) -> str:
    """The GPU devices the scheduler assigned and the share of each: ``0,1`` for whole
    GPUs, ``2@500m`` for half of device 2, ``<none>`` otherwise."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(GPU_ASSIGNMENT)
    if not raw:
        return "<none>"
    try:
        devices = json.loads(raw)
        return ",".join(
            str(d["index"]) if int(d["milli"]) >= 1000 else f"{d['index']}@{d['milli']}m"
            for d in devices
        )
    except (ValueError, KeyError, TypeError):
        return "?"


def images(obj: Object, _now: datetime) -> str:
    """Comma-separated container images."""
    containers = (obj.get("spec") or {}).get("containers") or ()
    return ",".join(str(c.get("image", "")) for c in containers if isinstance(c, dict)) or "<none>"


def condition(obj: Object, condition_type: str) -> str | None:
    """``status`` of the named condition, if present."""
    for cond in _status(obj).get("conditions") or ():
        if isinstance(cond, dict) and cond.get("type") == condition_type:
            return str(cond.get("status"))
    return None


def node_status(obj: Object, _now: datetime) -> str:
    """``Ready``/``NotReady``/``Unknown``, plus ``SchedulingDisabled`` when cordoned."""
    ready = condition(obj, "Ready")
    text = {"True": "Ready", "False": "NotReady"}.get(ready or "", "Unknown")
    if (obj.get("spec") or {}).get("unschedulable"):
        text += ",SchedulingDisabled"
    return text


def _capacity(resource: str) -> Cell:
    def cell(obj: Object, _now: datetime) -> str:
        status = _status(obj)
        value = (status.get("allocatable") or {}).get(resource)
        if value is None:
            value = (status.get("capacity") or {}).get(resource)
        return str(value) if value is not None else "-"

    return cell


def namespace_phase(obj: Object, now: datetime) -> str:
    """A Namespace is ``Active`` unless it says otherwise."""
    shown = phase(obj, now)
    return "Active" if shown == "-" else shown


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: header and how to compute its cell."""

    header: str
    cell: Cell


NAME = Column("NAME", name)
AGE = Column("AGE", age)
NAMESPACE = Column("NAMESPACE", namespace)

_POD = [NAME, Column("STATUS", pod_phase), Column("NODE", pod_node), AGE]
_POD_WIDE = [
    NAME,
    Column("STATUS", pod_phase),
    Column("RESTARTS", restarts),
    Column("NODE", pod_node),
    Column("GPU", gpus),
    AGE,
    Column("REASON", reason),
    Column("IMAGES", images),
]
_NODE = [NAME, Column("STATUS", node_status), AGE]
_NODE_WIDE = [
    *_NODE,
    Column("CPU", _capacity("cpu")),
    Column("MEMORY", _capacity("memory")),
    Column("GPU", _capacity("nvidia.com/gpu")),
]
_NAMESPACE = [NAME, Column("STATUS", namespace_phase), AGE]


def columns_for(
    info: KindInfo, objects: Sequence[Object], *, wide: bool, all_namespaces: bool
) -> list[Column]:
    """The columns for a table of ``objects`` of kind ``info``."""
    core = not info.group
    if core and info.kind == "Pod":
        columns = _POD_WIDE if wide else _POD
    elif core and info.kind == "Node":
        columns = _NODE_WIDE if wide else _NODE
    elif core and info.kind == "Namespace":
        columns = _NAMESPACE
    elif any(_status(o).get("phase") for o in objects):
        columns = [NAME, Column("STATUS", phase), AGE]
    else:
        columns = [NAME, AGE]
    if all_namespaces and info.namespaced:
        columns = [NAMESPACE, *columns]
    return list(columns)


def row(columns: Sequence[Column], obj: Object, now: datetime) -> list[str]:
    """The cells of one object."""
    return [c.cell(obj, now) for c in columns]
