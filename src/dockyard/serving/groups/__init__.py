"""RoleBasedGroup and InferencePool: the kinds, engine runtime profiles and the controller."""

from dockyard.serving.groups.api import (
    POOL_KIND_KEY,
    RBG_KIND_KEY,
    InferencePool,
    RoleBasedGroup,
    register,
)
from dockyard.serving.groups.controller import RoleBasedGroupReconciler, plan_role
from dockyard.serving.groups.pool_status import InferencePoolReconciler, pool_status
from dockyard.serving.groups.runtimes import EMULATOR_IMAGE, emulator_image

__all__ = [
    "EMULATOR_IMAGE",
    "POOL_KIND_KEY",
    "RBG_KIND_KEY",
    "InferencePool",
    "InferencePoolReconciler",
    "RoleBasedGroup",
    "RoleBasedGroupReconciler",
    "emulator_image",
    "plan_role",
    "pool_status",
    "register",
]
