"""Saved sandboxes that new sandboxes start from: E2B's snapshots (and the copy a fork is
made from).

Sandbox feature. A snapshot is a SandboxSnapshot object in the store (who owns it, its
names, the source's template shape, env and network) and an archive on disk: the same
archive hibernation writes (the home directory and, unless it is a filesystem-only
snapshot, the code contexts' globals and the command history). A sandbox started from it
unpacks the archive before its daemon answers. E2B clients name a snapshot by its id
(what ``create_snapshot`` returned) or by one of its names, wherever they name a template.

The archive is written before the object and removed after it, so an object always has its
archive; `sweep` removes archives a crash left without an object.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.api.errors import NotFoundError
from dockyard.api.labels import selector_from_match_labels
from dockyard.sandbox._kinds import API_VERSION, NAMESPACE, SNAPSHOT, TENANT_LABEL
from dockyard.sandbox._templates import Shape
from dockyard.sandbox._times import from_iso, to_iso
from dockyard.sandbox._volumes import Mount, mounts_from_objects
from dockyard.store import ObjectStore

#: What a snapshot name may look like: E2B's ``name``, ``team/name`` or ``name:tag``.
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)?(:[a-z0-9][a-z0-9._-]*)?")
_NAME_MAX = 128
_SHAPE_FIELDS = frozenset(f.name for f in dataclasses.fields(Shape))


def check_name(name: str) -> str:
    """`name` when it is a valid snapshot name, else ValueError naming the field."""
    if len(name) > _NAME_MAX or not _NAME.fullmatch(name):
        raise ValueError(
            f"name: {name!r} is not a valid snapshot name (lowercase letters, digits, '.', "
            f"'_' and '-', optionally 'team/' before and ':tag' after; at most {_NAME_MAX} "
            "characters)"
        )
    return name


def tagged(name: str) -> str:
    """`name` with its tag, ``latest`` when it has none."""
    return name if ":" in name else f"{name}:latest"


def new_snapshot_id() -> str:
    return "s" + os.urandom(10).hex()[:19]


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: str
    tenant: str
    source: str
    shape: Shape
    #: Its archive's file name in the catalog's directory.
    archive_name: str
    names: tuple[str, ...] = ()
    memory: bool = True
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    network: bool = False
    created_at: float = 0.0
    unsaved: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    size_bytes: int = 0
    #: The source's volumes, mounted again into sandboxes started from it.
    mounts: tuple[Mount, ...] = ()

    def to_object(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": "SandboxSnapshot",
            "metadata": {
                "name": self.snapshot_id,
                "namespace": NAMESPACE,
                "labels": {TENANT_LABEL: self.tenant},
            },
            "spec": {
                "sourceSandboxId": self.source,
                "templateRef": {"name": self.shape.template},
                "names": list(self.names),
                "memory": self.memory,
                "env": self.env,
                "allowInternetAccess": self.network,
                "shape": dataclasses.asdict(self.shape),
                "volumeMounts": [m.to_json() for m in self.mounts],
                "archive": self.archive_name,
            },
            "status": {
                "createdAt": to_iso(self.created_at),
                "unsavedNames": self.unsaved or None,
                "sizeBytes": self.size_bytes,
            },
        }

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> Snapshot:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        shape = {k: v for k, v in (spec.get("shape") or {}).items() if k in _SHAPE_FIELDS}
        return cls(
            snapshot_id=obj["metadata"]["name"],
            tenant=(obj["metadata"].get("labels") or {}).get(TENANT_LABEL, ""),
            source=spec.get("sourceSandboxId", ""),
            shape=Shape(**shape),
            archive_name=str(spec.get("archive") or f"{obj['metadata']['name']}.tar"),
            names=tuple(spec.get("names") or ()),
            memory=bool(spec.get("memory", True)),
            env=dict(spec.get("env") or {}),
            network=bool(spec.get("allowInternetAccess")),
            created_at=from_iso(status.get("createdAt")),
            unsaved={k: list(v) for k, v in (status.get("unsavedNames") or {}).items()},
            size_bytes=int(status.get("sizeBytes") or 0),
            mounts=mounts_from_objects(spec.get("volumeMounts")),
        )

    def answers_to(self, ref: str) -> bool:
        """Whether `ref` is its id or one of its names (a name without a tag is the same
        name tagged ``latest``, as in E2B)."""
        if ref == self.snapshot_id:
            return True
        wanted = tagged(ref)
        return any(tagged(name) == wanted for name in self.names)


class SnapshotCatalog:
    """The tenants' snapshots: objects in `store`, archives in `directory`."""

    def __init__(self, store: ObjectStore, directory: Path) -> None:
        self.store = store
        self.directory = directory

    def archive(self, snapshot: Snapshot) -> Path:
        return self.directory / snapshot.archive_name

    def list(self, tenant: str) -> list[Snapshot]:
        """The tenant's snapshots, oldest first."""
        objects, _ = self.store.list(
            SNAPSHOT, NAMESPACE, selector_from_match_labels({TENANT_LABEL: tenant})
        )
        found = [Snapshot.from_object(obj) for obj in objects]
        return sorted(found, key=lambda s: (s.created_at, s.snapshot_id))

    def find(self, tenant: str, ref: str) -> Snapshot | None:
        """The tenant's snapshot with id or name `ref` (the newest, if a name was reused)."""
        obj = self.store.try_get(SNAPSHOT, NAMESPACE, ref)
        if obj is not None:
            found = Snapshot.from_object(obj)
            if found.tenant == tenant:
                return found
        named = [s for s in self.list(tenant) if s.answers_to(ref)]
        return named[-1] if named else None

    def save(self, snapshot: Snapshot) -> None:
        """Record `snapshot` (its archive is in place already), replacing the object of
        the same id."""
        obj = snapshot.to_object()
        if self.store.try_get(SNAPSHOT, NAMESPACE, snapshot.snapshot_id) is None:
            self.store.create(SNAPSHOT, obj)
        else:
            self.store.update(SNAPSHOT, obj)

    def delete(self, tenant: str, ref: str) -> bool:
        """Delete the tenant's snapshot `ref`; False when there is none."""
        snapshot = self.find(tenant, ref)
        if snapshot is None:
            return False
        with contextlib.suppress(NotFoundError):
            self.store.delete(SNAPSHOT, NAMESPACE, snapshot.snapshot_id)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.archive(snapshot))
        return True

    def sweep(self) -> None:
        """Remove archives no object names: unfinished ones, forks' copies, and ones a
        crash left between writing an archive and its object (start-up only)."""
        named = {
            Snapshot.from_object(obj).archive_name
            for obj in self.store.list(SNAPSHOT, NAMESPACE)[0]
        }
        for path in self.directory.iterdir():
            if path.name not in named:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
