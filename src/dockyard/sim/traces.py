"""Loaders for the Alibaba ``openb`` traces (node list and pod list CSVs).

Conversion rules follow the FGD simulator's converter: GPU fields count only when
``num_gpu > 0``; ``gpu_milli`` is clamped to 0..1000 per GPU; ``gpu_spec`` is split on
``|`` with empty tokens dropped (order and duplicates kept). ``qos``, phases and times are
ignored: pods arrive in the replay's order and never leave.
"""

from __future__ import annotations

import csv
from pathlib import Path

from dockyard.scheduler.framework import GPU_MILLI_PER_DEVICE, NodeSpec, PodRequest


class TraceError(ValueError):
    """A trace file is missing a column or has a bad value (message names file and row)."""


def _int(row: dict[str, str], column: str, path: Path, line: int) -> int:
    raw = row.get(column)
    if raw is None:
        raise TraceError(f"{path}: missing column {column!r}")
    try:
        return int(float(raw)) if raw.strip() else 0
    except ValueError:
        raise TraceError(f"{path}:{line}: column {column!r}: not a number: {raw!r}") from None


def load_nodes(path: Path) -> list[NodeSpec]:
    """Nodes of ``sn,cpu_milli,memory_mib,gpu,model``, in file order."""
    nodes: list[NodeSpec] = []
    with path.open(newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            model = (row.get("model") or "").strip()
            nodes.append(
                NodeSpec(
                    name=row["sn"],
                    cpu_milli=_int(row, "cpu_milli", path, line),
                    memory_mib=_int(row, "memory_mib", path, line),
                    gpu_count=_int(row, "gpu", path, line),
                    gpu_model="" if model.lower() == "nan" else model,
                )
            )
    return nodes


def load_pods(path: Path) -> list[PodRequest]:
    """Pods of ``name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,...``, in file order."""
    pods: list[PodRequest] = []
    with path.open(newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            models: tuple[str, ...] = ()
            count = _int(row, "num_gpu", path, line)
            milli = min(max(_int(row, "gpu_milli", path, line), 0), GPU_MILLI_PER_DEVICE)
            if count <= 0 or milli == 0:
                count, milli = 0, 0
            else:
                spec = (row.get("gpu_spec") or "").strip()
                models = tuple(t for t in spec.split("|") if t and t.lower() != "nan")
            pods.append(
                PodRequest(
                    name=row["name"],
                    cpu_milli=_int(row, "cpu_milli", path, line),
                    memory_mib=_int(row, "memory_mib", path, line),
                    gpu_count=count,
                    gpu_milli=milli,
                    gpu_models=models,
                )
            )
    return pods
