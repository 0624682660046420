"""The object shape every Dockyard kind shares: apiVersion, kind, metadata, spec, status.

Models are pydantic v2 classes with camelCase aliases so that YAML written for Kubernetes,
Argo or RoleBasedGroup validates unchanged. Unknown fields are rejected (``extra="forbid"``)
so a typo never silently does nothing.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from dockyard.api.names import (
    dns1123_subdomain_problem,
    label_key_problem,
    label_value_problem,
)


class ApiModel(BaseModel):
    """Base of every API struct: camelCase on the wire, strict about unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=False,
    )

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class OwnerReference(ApiModel):
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(ApiModel):
    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    owner_references: list[OwnerReference] | None = None
    finalizers: list[str] | None = None

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str | None) -> str | None:
        if value is not None:
            problem = dns1123_subdomain_problem(value)
            if problem:
                raise ValueError(f"invalid name {value!r}: {problem}")
        return value

    @field_validator("generate_name")
    @classmethod
    def _valid_generate_name(cls, value: str | None) -> str | None:
        if value is not None:
            # The server appends 5 random characters; the prefix must keep the result valid.
            problem = dns1123_subdomain_problem(value + "x")
            if problem or len(value) > 248:
                raise ValueError(f"invalid generateName {value!r}: {problem or 'too long'}")
        return value

    @field_validator("labels")
    @classmethod
    def _valid_labels(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key, label in (value or {}).items():
            problem = label_key_problem(key) or label_value_problem(label)
            if problem:
                raise ValueError(f"invalid label {key}={label!r}: {problem}")
        return value

    @field_validator("annotations")
    @classmethod
    def _valid_annotations(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key in value or {}:
            problem = label_key_problem(key)
            if problem:
                raise ValueError(f"invalid annotation key {key!r}: {problem}")
        return value


class Resource(ApiModel):
    """An API object. Subclasses narrow ``spec`` and ``status`` and set the class vars.

    ``API_VERSION``/``KIND`` identify the kind; ``PLURAL``/``NAMESPACED`` drive its REST
    paths. Register a subclass with :func:`dockyard.api.registry.register_kind`.
    """

    API_VERSION: ClassVar[str] = ""
    KIND: ClassVar[str] = ""
    PLURAL: ClassVar[str] = ""
    NAMESPACED: ClassVar[bool] = True
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ()

    api_version: str
    kind: str
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    @field_validator("api_version")
    @classmethod
    def _check_api_version(cls, value: str) -> str:
        if cls.API_VERSION and value != cls.API_VERSION:
            raise ValueError(f"expected apiVersion {cls.API_VERSION!r}, got {value!r}")
        return value

    @field_validator("kind")
    @classmethod
    def _check_kind(cls, value: str) -> str:
        if cls.KIND and value != cls.KIND:
            raise ValueError(f"expected kind {cls.KIND!r}, got {value!r}")
        return value
