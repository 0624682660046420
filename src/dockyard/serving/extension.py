"""How serving plugs into the control plane (see :mod:`dockyard.control.extensions`).

Registers the RoleBasedGroup and InferencePool kinds, the ``dockyard/engine-emulator``
image, the RoleBasedGroup controller (which owns Pods) and the InferencePool status
controller (which counts the pool's ready endpoints).
"""

from __future__ import annotations

from dockyard.control import Controller, Platform, WatchSource
from dockyard.node.sandbox import register_image
from dockyard.serving.groups import (
    EMULATOR_IMAGE,
    POOL_KIND_KEY,
    RBG_KIND_KEY,
    InferencePoolReconciler,
    RoleBasedGroupReconciler,
    emulator_image,
    register,
)

register()
register_image(EMULATOR_IMAGE, emulator_image)


class ServingExtension:
    name = "serving"

    def install(self, platform: Platform) -> None:
        platform.manager.add(
            Controller(
                name="rolebasedgroups",
                reconciler=RoleBasedGroupReconciler(platform.store),
                for_kind=RBG_KIND_KEY,
                owns=["v1/Pod"],
            )
        )
        pools = InferencePoolReconciler(platform.store)
        platform.manager.add(
            Controller(
                name="inferencepools",
                reconciler=pools,
                for_kind=POOL_KIND_KEY,
                watches=[WatchSource("v1/Pod", pools.pools_for_pod)],
            )
        )


extension = ServingExtension()
