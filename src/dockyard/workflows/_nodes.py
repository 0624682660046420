"""Node bookkeeping for ``status.nodes``: ids, names, phases and the node record itself.

Workflows layer, leaf module. Node names are deterministic paths (``wf.steps[0].hello``,
``wf.dag.task(0:item)``, ``name(1)`` for a retry attempt), so every reconcile can find the
node it created earlier by name; ids are ``<workflow>-<fnv32a(name)>`` as in Argo, and the
root node's id is the workflow name.
"""

from __future__ import annotations

import functools
import re
from typing import Any

NodeRecord = dict[str, Any]

PENDING, RUNNING, SUCCEEDED, SKIPPED = "Pending", "Running", "Succeeded", "Skipped"
FAILED, ERROR, OMITTED = "Failed", "Error", "Omitted"
#: Phases after which a node never changes again.
FULFILLED = frozenset({SUCCEEDED, FAILED, ERROR, SKIPPED, OMITTED})
#: Fulfilled phases that mean the node really ran (or was skipped), not omitted.
COMPLETED = frozenset({SUCCEEDED, FAILED, ERROR, SKIPPED})
FAILED_OR_ERROR = frozenset({FAILED, ERROR})

WORKFLOW_TERMINAL = frozenset({SUCCEEDED, FAILED, ERROR})

_POD_NAME_INVALID = re.compile(r"[^a-z0-9-]+")


def fnv32a(text: str) -> int:
    value = 0x811C9DC5
    for byte in text.encode():
        value ^= byte
        value = (value * 0x01000193) & 0xFFFFFFFF
    return value


@functools.lru_cache(maxsize=1 << 17)
def node_id(workflow_name: str, node_name: str) -> str:
    """``<workflow>-<fnv32a(name)>`` (memoized: every pass looks up every node by name)."""
    if node_name == workflow_name:
        return workflow_name
    return f"{workflow_name}-{fnv32a(node_name)}"


def pod_name(workflow_name: str, template_name: str, node_name: str) -> str:
    """Argo's v2 pod name: ``<workflow>-<template>-<hash>``, kept a valid DNS label."""
    suffix = str(fnv32a(node_name))
    prefix = workflow_name
    template = _POD_NAME_INVALID.sub("-", template_name.lower()).strip("-")
    if template and template != workflow_name:
        prefix = f"{workflow_name}-{template}"
    prefix = prefix[: 62 - len(suffix)].rstrip("-.")
    return f"{prefix}-{suffix}"


def fulfilled(node: NodeRecord | None) -> bool:
    return node is not None and node.get("phase") in FULFILLED


def new_node(
    workflow_name: str,
    name: str,
    node_type: str,
    display_name: str,
    template_name: str | None,
    boundary_id: str | None,
    phase: str,
    now: str,
) -> NodeRecord:
    node: NodeRecord = {
        "id": node_id(workflow_name, name),
        "name": name,
        "displayName": display_name,
        "type": node_type,
        "phase": phase,
        "startedAt": now,
    }
    if template_name:
        node["templateName"] = template_name
    if boundary_id:
        node["boundaryID"] = boundary_id
    if phase in FULFILLED:
        node["finishedAt"] = now
    return node
