"""Pure logic of ``apply``: what to send, and whether anything would change.

``apply`` is create-or-replace. To report ``unchanged`` honestly, and to let a field
removed from the manifest actually disappear, the applied manifest is recorded in the
annotation :data:`LAST_APPLIED` (as kubectl does): the object is unchanged only when the
recorded manifest equals the new one *and* every field of the manifest still holds its
value on the server (nobody changed it behind our back). Server defaults (fields present on
the server but absent from the manifest) never count as a change.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Final

LAST_APPLIED: Final = "dockyard.io/last-applied-configuration"

# Metadata the server owns; a manifest exported with `get -o yaml` carries these, and
# sending them back would be at best ignored and at worst a stale-resourceVersion conflict.
SERVER_METADATA: Final = frozenset(
    {
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "generation",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    }
)


def strip_server_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``obj`` without ``status`` and server-owned metadata."""
    clean = copy.deepcopy(obj)
    clean.pop("status", None)
    metadata = clean.get("metadata")
    if isinstance(metadata, dict):
        for key in SERVER_METADATA:
            metadata.pop(key, None)
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict):
            annotations.pop(LAST_APPLIED, None)
            if not annotations:
                metadata.pop("annotations")
    return clean


def desired_state(manifest: dict[str, Any]) -> dict[str, Any]:
    """The object ``apply`` sends: the cleaned manifest plus its :data:`LAST_APPLIED` record."""
    clean = strip_server_fields(manifest)
    record = json.dumps(clean, sort_keys=True, separators=(",", ":"))
    desired = copy.deepcopy(clean)
    metadata = desired.setdefault("metadata", {})
    metadata.setdefault("annotations", {})[LAST_APPLIED] = record
    return desired


def is_subset(wanted: Any, actual: Any) -> bool:
    """True when every value in ``wanted`` is present and equal in ``actual``.

    Mappings may have extra keys in ``actual`` (server defaults); lists must have the same
    length and match element by element; scalars must be equal.
    """
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(
            k in actual and is_subset(v, actual[k]) for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(actual, list)
            and len(wanted) == len(actual)
            and all(is_subset(w, a) for w, a in zip(wanted, actual, strict=True))
        )
    return bool(wanted == actual)


def is_unchanged(desired: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether replacing ``current`` with ``desired`` would change nothing we manage.

    ``desired`` carries its :data:`LAST_APPLIED` record, so a manifest that dropped a field
    differs from the record even though it is still a subset of the live object.
    """
    return is_subset(desired, current)


def replacement(desired: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The body of the PUT that turns ``current`` into ``desired``.

    Takes ``desired`` whole (so removed labels, annotations and spec fields go away) and
    keeps from ``current`` what the server owns: ``status``, server metadata (including
    the ``resourceVersion`` that makes the PUT conditional), and ``ownerReferences`` and
    ``finalizers`` when the manifest does not set them.
    """
    body = copy.deepcopy(desired)
    metadata = body.setdefault("metadata", {})
    current_metadata = current.get("metadata") or {}
    for key in (*SERVER_METADATA, "ownerReferences", "finalizers", "namespace"):
        if key in current_metadata and key not in metadata:
            metadata[key] = copy.deepcopy(current_metadata[key])
    if "status" in current:
        body["status"] = copy.deepcopy(current["status"])
    return body
