"""The kind registry: which kinds exist, their REST names and their models.

Core kinds register themselves on import of :mod:`dockyard.api`. Feature packages add
their own kinds with :func:`register_kind` at import time, e.g.::

    class Workflow(Resource):
        API_VERSION = "argoproj.io/v1alpha1"; KIND = "Workflow"; PLURAL = "workflows"
        ...
    register_kind(Workflow)

The server builds its routes and discovery document from this registry, and the store
keys objects by :attr:`KindInfo.key`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from dockyard.api.base import Resource
from dockyard.api.errors import BadRequestError, FieldCause, InvalidError, NotFoundError


@dataclass(frozen=True)
class KindInfo:
    """Everything the platform needs to know about one kind."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool
    model: type[Resource]
    short_names: tuple[str, ...] = ()

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    @property
    def key(self) -> str:
        """Stable identifier used by the store: ``apiVersion/Kind``."""
        return f"{self.api_version}/{self.kind}"

    @property
    def singular(self) -> str:
        return self.kind.lower()

    def discovery(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "plural": self.plural,
            "singular": self.singular,
            "namespaced": self.namespaced,
            "shortNames": list(self.short_names),
        }


class KindRegistry:
    """A lookup table of kinds by (apiVersion, kind) and by (group, version, plural)."""

    def __init__(self) -> None:
        self._by_kind: dict[tuple[str, str], KindInfo] = {}
        self._by_plural: dict[tuple[str, str, str], KindInfo] = {}

    def register(self, model: type[Resource]) -> KindInfo:
        if not (model.API_VERSION and model.KIND and model.PLURAL):
            raise TypeError(f"{model.__name__} must set API_VERSION, KIND and PLURAL")
        info = KindInfo(
            api_version=model.API_VERSION,
            kind=model.KIND,
            plural=model.PLURAL,
            namespaced=model.NAMESPACED,
            model=model,
            short_names=model.SHORT_NAMES,
        )
        existing = self._by_kind.get((info.api_version, info.kind))
        if existing is not None and existing.model is not model:
            raise ValueError(f"kind {info.key} is already registered")
        self._by_kind[(info.api_version, info.kind)] = info
        self._by_plural[(info.group, info.version, info.plural)] = info
        return info

    def all(self) -> list[KindInfo]:
        return sorted(self._by_kind.values(), key=lambda k: (k.group, k.kind))

    def for_object(self, obj: dict[str, Any]) -> KindInfo:
        """The kind of a raw object, or a clear error naming apiVersion/kind."""
        api_version = obj.get("apiVersion")
        kind = obj.get("kind")
        causes = []
        if not isinstance(api_version, str) or not api_version:
            causes.append(FieldCause("apiVersion", "is required", "FieldValueRequired"))
        if not isinstance(kind, str) or not kind:
            causes.append(FieldCause("kind", "is required", "FieldValueRequired"))
        if causes:
            raise BadRequestError("object is missing its type", causes=causes)
        info = self._by_kind.get((str(api_version), str(kind)))
        if info is None:
            raise NotFoundError(
                f"no kind {kind!r} is registered for apiVersion {api_version!r}",
                causes=[
                    FieldCause(
                        "kind", f"unknown kind {api_version}/{kind}", "FieldValueNotSupported"
                    )
                ],
            )
        return info

    def get(self, api_version: str, kind: str) -> KindInfo:
        info = self._by_kind.get((api_version, kind))
        if info is None:
            raise NotFoundError(f"no kind {kind!r} in {api_version!r}")
        return info

    def by_plural(self, group: str, version: str, plural: str) -> KindInfo:
        info = self._by_plural.get((group, version, plural))
        if info is None:
            prefix = f"{group}/{version}" if group else version
            raise NotFoundError(
                f"the server could not find the requested resource {prefix}/{plural}"
            )
        return info


def format_location(loc: tuple[int | str, ...]) -> str:
    """``('spec', 'containers', 0, 'image')`` → ``spec.containers[0].image``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = str(part)
    return out or "<object>"


def validation_error_to_invalid(
    exc: ValidationError, kind: str | None = None, name: str | None = None
) -> InvalidError:
    """Translate pydantic errors into an :class:`InvalidError` whose causes name fields."""
    causes = []
    for error in exc.errors():
        loc = tuple(
            p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-"))
        )
        message = error["msg"].removeprefix("Value error, ")
        reason = {
            "missing": "FieldValueRequired",
            "extra_forbidden": "FieldValueNotSupported",
        }.get(error["type"], "FieldValueInvalid")
        if error["type"] == "extra_forbidden":
            message = "unknown field (not supported by Dockyard)"
        causes.append(FieldCause(format_location(loc), message, reason))
    label = f"{kind} {name!r}" if kind and name else (kind or "object")
    return InvalidError(f"{label} is invalid", causes=causes, kind=kind, name=name)


def validate_object(info: KindInfo, obj: dict[str, Any]) -> Resource:
    """Validate a raw object against its kind's model, raising InvalidError on failure."""
    try:
        return info.model.model_validate(obj)
    except ValidationError as exc:
        name = (
            obj.get("metadata", {}).get("name") if isinstance(obj.get("metadata"), dict) else None
        )
        raise validation_error_to_invalid(exc, info.kind, name) from None


REGISTRY = KindRegistry()


def register_kind(model: type[Resource]) -> KindInfo:
    """Register a kind in the process-wide registry (idempotent for the same model)."""
    return REGISTRY.register(model)
