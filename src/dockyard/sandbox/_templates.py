"""Resolving what a sandbox gets: a SandboxTemplate (or a built-in default) into a
`Shape` of sizes, env and policy.

Sandbox feature. E2B clients name templates (``base``, ``code-interpreter-v1``); those
built-in names map to the default shape unless a SandboxTemplate of that name exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dockyard.api.quantity import cpu_millis, memory_bytes
from dockyard.sandbox._kinds import NAMESPACE, TEMPLATE, SandboxTemplateSpec
from dockyard.store import ObjectStore

BUILTIN_TEMPLATES = frozenset({"base", "code-interpreter-v1", "code-interpreter", "default"})


@dataclass(frozen=True)
class Shape:
    template: str
    cpu_millis: int
    memory_bytes: int
    disk_bytes: int
    pids: int
    env: dict[str, str] = field(default_factory=dict)
    start_command: str | None = None
    allow_internet_access: bool = False
    timeout_seconds: int = 300
    auto_pause: bool = False
    hibernate_after_seconds: int | None = None
    request_cpu_millis: int = 1
    request_memory_mib: int = 8
    node_selector: dict[str, str] = field(default_factory=dict)


def shape_of(name: str, spec: SandboxTemplateSpec) -> Shape:
    resources = spec.resources
    return Shape(
        template=name,
        cpu_millis=cpu_millis(resources.cpu),
        memory_bytes=memory_bytes(resources.memory),
        disk_bytes=memory_bytes(resources.disk),
        pids=resources.pids,
        env=dict(spec.env),
        start_command=spec.start_command,
        allow_internet_access=spec.network.allow_internet_access,
        timeout_seconds=spec.timeout_seconds,
        auto_pause=spec.auto_pause,
        hibernate_after_seconds=spec.hibernate_after_seconds,
        request_cpu_millis=cpu_millis(resources.requests.cpu),
        request_memory_mib=-(-memory_bytes(resources.requests.memory) // (1 << 20)),
        node_selector=dict(spec.node_selector),
    )


def _shape_from(name: str, obj: dict[str, Any] | None) -> Shape | None:
    """The shape of template `name` stored as `obj` (None: not stored, so only a
    built-in name has one)."""
    if obj is not None:
        return shape_of(name, SandboxTemplateSpec.model_validate(obj.get("spec") or {}))
    if name in BUILTIN_TEMPLATES:
        return shape_of(name, SandboxTemplateSpec())
    return None


def resolve_template(store: ObjectStore, name: str) -> Shape | None:
    """The shape of template `name`, or None when no such template exists."""
    return _shape_from(name, store.try_get(TEMPLATE, NAMESPACE, name))


class TemplateShapes:
    """`resolve_template` against one store, each version of a template parsed once: a
    shape is kept with the resourceVersion its SandboxTemplate was read at (None for a
    built-in name without one) and used while the stored template has that version
    (every write changes it). Unknown names are not kept. Returned shapes are shared:
    callers must not modify them."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._shapes: dict[str, tuple[str | None, Shape]] = {}

    def resolve(self, name: str) -> Shape | None:
        obj: dict[str, Any] | None = self.store.try_get(TEMPLATE, NAMESPACE, name)
        version = None if obj is None else str(obj["metadata"].get("resourceVersion"))
        cached = self._shapes.get(name)
        if cached is not None and cached[0] == version:
            return cached[1]
        shape = _shape_from(name, obj)
        if shape is None:
            self._shapes.pop(name, None)
        else:
            self._shapes[name] = (version, shape)
        return shape
