"""Dockyard API: resource models, the kind registry and the errors every layer shares.

This is the lowest layer: it imports nothing else from Dockyard.
"""

from dockyard.api.base import ApiModel, ObjectMeta, OwnerReference, Resource
from dockyard.api.core import (
    Condition,
    Container,
    ContainerStatus,
    Namespace,
    Node,
    Pod,
    PodSpec,
    PodStatus,
)
from dockyard.api.errors import (
    AlreadyExistsError,
    ApiError,
    BadRequestError,
    ConflictError,
    FieldCause,
    ForbiddenError,
    GoneError,
    InvalidError,
    NotFoundError,
    UnauthorizedError,
)
from dockyard.api.registry import REGISTRY, KindInfo, KindRegistry, register_kind, validate_object

for _model in (Namespace, Node, Pod):
    register_kind(_model)

__all__ = [
    "REGISTRY",
    "AlreadyExistsError",
    "ApiError",
    "ApiModel",
    "BadRequestError",
    "Condition",
    "ConflictError",
    "Container",
    "ContainerStatus",
    "FieldCause",
    "ForbiddenError",
    "GoneError",
    "InvalidError",
    "KindInfo",
    "KindRegistry",
    "Namespace",
    "Node",
    "NotFoundError",
    "ObjectMeta",
    "OwnerReference",
    "Pod",
    "PodSpec",
    "PodStatus",
    "Resource",
    "UnauthorizedError",
    "register_kind",
    "validate_object",
]
