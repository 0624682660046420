"""Tenants' volumes: persistent directories on the control plane's disk that sandboxes
mount read-write and the volume content API reads and writes (E2B's volumes).

Sandbox feature. A volume is a SandboxVolume object in the store (its tenant, name and the
bearer token of its content API) and a directory `directory/<id>` owned by the sandbox user.
A sandbox names the volumes it mounts at create (``volumeMounts``: name and absolute path);
`mount_paths` says which paths may take one. A volume outlives every sandbox that mounts it
and is deleted only when none does (the service checks).

The directory is made before the object and removed after it; `sweep` removes directories
a crash left without an object.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.api.errors import AlreadyExistsError, NotFoundError
from dockyard.api.labels import selector_from_match_labels
from dockyard.node.sandbox.isolation import SANDBOX_GID, SANDBOX_UID
from dockyard.sandbox._keys import new_access_token, token_matches
from dockyard.sandbox._kinds import API_VERSION, NAMESPACE, TENANT_LABEL, VOLUME
from dockyard.sandbox._times import from_iso, to_iso
from dockyard.sandbox._volume_files import remove_tree
from dockyard.store import ObjectStore

_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}")
#: Top-level directories of a sandbox that a volume may not be mounted in or over.
_SYSTEM = frozenset(
    {"", "bin", "boot", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "root",
     "run", "sbin", "sys", "tmp", "usr", "var", ".dockyard"}
)  # fmt: skip
MAX_MOUNTS = 16


def check_volume_name(name: object, field: str = "name") -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"{field}: {name!r} is not a valid volume name (letters, digits, '.', '_' and "
            "'-', starting with a letter or digit, at most 63 characters)"
        )
    return name


def check_mount_path(path: object, field: str) -> str:
    """`path` when a volume may be mounted there: absolute, normalised, and below a
    directory of its own (``/home/user/data``, ``/mnt/data``, ``/data``), not in the
    sandbox's system directories; else ValueError naming `field`."""
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
        raise ValueError(f"{field}: {path!r} is not an absolute path")
    if posixpath.normpath(path) != path or "/../" in f"{path}/":
        raise ValueError(f"{field}: {path!r} is not a normalised path")
    top = path.split("/")[1]
    if top in _SYSTEM or path in ("/home", "/home/user"):
        raise ValueError(f"{field}: {path!r} is a system directory of the sandbox")
    return path


def _inside(path: str, directory: str) -> bool:
    return path.startswith(directory.rstrip("/") + "/")


@dataclass(frozen=True)
class Mount:
    """Volume `volume_id` (named `name`) mounted read-write at `path` in a sandbox."""

    volume_id: str
    name: str
    path: str

    def to_json(self) -> dict[str, str]:
        return {"volumeId": self.volume_id, "name": self.name, "path": self.path}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Mount:
        return cls(str(data["volumeId"]), str(data.get("name", "")), str(data["path"]))


def mounts_from_objects(items: Any) -> tuple[Mount, ...]:
    """Mounts as stored in a Sandbox's or SandboxSnapshot's ``volumeMounts``."""
    return tuple(Mount.from_json(item) for item in items or ())


@dataclass(frozen=True)
class Volume:
    volume_id: str
    tenant: str
    name: str
    token: str
    created_at: float = 0.0

    def to_object(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": "SandboxVolume",
            "metadata": {
                "name": self.volume_id,
                "namespace": NAMESPACE,
                "labels": {TENANT_LABEL: self.tenant},
            },
            "spec": {"name": self.name},
            "status": {
                "createdAt": to_iso(self.created_at),
                "token": self.token,
            },
        }

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> Volume:
        status = obj.get("status") or {}
        return cls(
            volume_id=obj["metadata"]["name"],
            tenant=(obj["metadata"].get("labels") or {}).get(TENANT_LABEL, ""),
            name=(obj.get("spec") or {}).get("name", ""),
            token=status.get("token") or "",
            created_at=from_iso(status.get("createdAt")),
        )


class VolumeCatalog:
    """The tenants' volumes: objects in `store`, directories in `directory`."""

    def __init__(self, store: ObjectStore, directory: Path) -> None:
        self.store = store
        self.directory = directory
        self._lock = threading.Lock()

    def path(self, volume_id: str) -> Path:
        return self.directory / volume_id

    def list(self, tenant: str) -> list[Volume]:
        objects, _ = self.store.list(
            VOLUME, NAMESPACE, selector_from_match_labels({TENANT_LABEL: tenant})
        )
        return sorted(
            (Volume.from_object(o) for o in objects), key=lambda v: (v.created_at, v.volume_id)
        )

    def find(self, tenant: str, ref: str) -> Volume | None:
        """The tenant's volume with id or name `ref`."""
        obj = self.store.try_get(VOLUME, NAMESPACE, ref)
        if obj is not None:
            found = Volume.from_object(obj)
            if found.tenant == tenant:
                return found
        return next((v for v in self.list(tenant) if v.name == ref), None)

    def create(self, tenant: str, name: str, now: float) -> Volume:
        """A new empty volume; AlreadyExistsError when the tenant has one of that name."""
        check_volume_name(name)
        with self._lock:
            if any(v.name == name for v in self.list(tenant)):
                raise AlreadyExistsError(
                    f"volume {name!r} already exists", kind="SandboxVolume", name=name
                )
            volume = Volume("v" + os.urandom(10).hex()[:19], tenant, name, new_access_token(), now)
            path = self.path(volume.volume_id)
            path.mkdir(mode=0o755)
            os.chown(path, SANDBOX_UID, SANDBOX_GID)
            try:
                self.store.create(VOLUME, volume.to_object())
            except BaseException:
                path.rmdir()
                raise
            return volume

    def forget(self, volume: Volume) -> None:
        """Delete the volume's object (its files stay until `remove_files`)."""
        with contextlib.suppress(NotFoundError):
            self.store.delete(VOLUME, NAMESPACE, volume.volume_id)

    def remove_files(self, volume_id: str) -> None:
        """Remove a forgotten volume's directory (blocking), never following a link nor
        opening anything but a directory: sandboxes could have put anything there."""
        remove_tree(self.directory, volume_id)

    def resolve_mounts(self, tenant: str, requested: Any) -> tuple[Mount, ...]:
        """E2B's ``volumeMounts`` (a list of ``{"name", "path"}``) as mounts of the
        tenant's volumes; ValueError naming the field when one is malformed, names no
        volume of the tenant, or repeats a path."""
        if requested is None:
            return ()
        if not isinstance(requested, list) or len(requested) > MAX_MOUNTS:
            raise ValueError(f"volumeMounts: must be a list of at most {MAX_MOUNTS} mounts")
        mounts: list[Mount] = []
        for i, item in enumerate(requested):
            field = f"volumeMounts[{i}]"
            if not isinstance(item, dict):
                raise ValueError(f"{field}: must be an object with name and path")
            path = check_mount_path(item.get("path"), f"{field}.path")
            name = check_volume_name(item.get("name"), f"{field}.name")
            volume = self.find(tenant, name)
            if volume is None:
                raise ValueError(f"{field}.name: no volume {name!r}")
            if any(m.path == path for m in mounts):
                raise ValueError(f"{field}.path: {path!r} is mounted twice")
            nested = next((m.path for m in mounts if _inside(path, m.path) or
                           _inside(m.path, path)), None)  # fmt: skip
            if nested is not None:
                raise ValueError(f"{field}.path: {path!r} and {nested!r} are nested")
            mounts.append(Mount(volume.volume_id, volume.name, path))
        return tuple(mounts)

    def content_root(self, volume_id: str, token: str | None) -> Path | None:
        """The directory of volume `volume_id` when `token` is its content token."""
        obj = self.store.try_get(VOLUME, NAMESPACE, volume_id)
        if obj is None or not token_matches(Volume.from_object(obj).token, token):
            return None
        return self.path(volume_id)

    def sweep(self) -> None:
        """Remove directories without an object (a crash between the two)."""
        known = {obj["metadata"]["name"] for obj in self.store.list(VOLUME, NAMESPACE)[0]}
        for path in self.directory.iterdir():
            if path.name not in known:
                remove_tree(self.directory, path.name)
