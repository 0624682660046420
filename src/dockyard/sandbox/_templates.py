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


def resolve_template(store: ObjectStore, name: str) -> Shape | None:
    """The shape of template `name`, or None when no such template exists."""
    obj: dict[str, Any] | None = store.try_get(TEMPLATE, NAMESPACE, name)
    if obj is not None:
        return shape_of(name, SandboxTemplateSpec.model_validate(obj.get("spec") or {}))
    if name in BUILTIN_TEMPLATES:
        return shape_of(name, SandboxTemplateSpec())
    return None
