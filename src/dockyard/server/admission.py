"""Admission: validation and defaulting of objects before the store sees them.

Every write goes through :meth:`Admission.admit`: the kind's pydantic model validates and
defaults the object, then the hooks registered for that kind run (e.g. "this image has no
local runtime"). Hooks raise :class:`InvalidError` naming the field; nothing is stored when
any check fails. Feature packages register hooks with :meth:`Admission.register`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dockyard.api import KindInfo, validate_object
from dockyard.api.errors import FieldCause, InvalidError
from dockyard.node.sandbox import UnknownImageError, resolve_image

AdmissionHook = Callable[[KindInfo, dict[str, Any], dict[str, Any] | None], None]


class Admission:
    def __init__(self) -> None:
        self._hooks: dict[str, list[AdmissionHook]] = {}
        self.register("v1/Pod", check_pod_images)
        self.register("v1/Pod", check_pod_update)

    def register(self, kind_key: str, hook: AdmissionHook) -> None:
        self._hooks.setdefault(kind_key, []).append(hook)

    def admit(
        self, info: KindInfo, obj: dict[str, Any], old: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The validated, defaulted object, or InvalidError. ``old`` is set for updates."""
        normalized = validate_object(info, obj).to_dict()
        for hook in self._hooks.get(info.key, []):
            hook(info, normalized, old)
        return normalized


def check_pod_images(info: KindInfo, pod: dict[str, Any], old: dict[str, Any] | None) -> None:
    causes = []
    for field in ("initContainers", "containers"):
        for index, container in enumerate(pod["spec"].get(field) or []):
            try:
                resolve_image(container["image"])
            except UnknownImageError as exc:
                causes.append(
                    FieldCause(f"spec.{field}[{index}].image", str(exc), "FieldValueNotSupported")
                )
    if causes:
        raise InvalidError(
            f"Pod {pod['metadata'].get('name') or pod['metadata'].get('generateName', '')!r} is invalid",
            causes=causes,
            kind="Pod",
            name=pod["metadata"].get("name"),
        )


def check_pod_update(info: KindInfo, pod: dict[str, Any], old: dict[str, Any] | None) -> None:
    """A Pod's spec is immutable once created, as in Kubernetes (the scheduler's binding is
    the only change, and it goes through the store directly)."""
    if old is None:
        return
    if pod.get("spec") != old.get("spec"):
        raise InvalidError(
            f"Pod {pod['metadata'].get('name')!r} is invalid",
            causes=[
                FieldCause("spec", "Pod updates may not change the spec", "FieldValueForbidden")
            ],
            kind="Pod",
            name=pod["metadata"].get("name"),
        )
