"""How serving plugs into the control plane (see :mod:`dockyard.control.extensions`).

Registers the RoleBasedGroup and InferencePool kinds, the ``dockyard/engine-emulator``
image, and the RoleBasedGroup controller (which owns Pods).
"""

from __future__ import annotations

from dockyard.control import Controller, Platform
from dockyard.node.sandbox import register_image
from dockyard.serving.groups import (
    EMULATOR_IMAGE,
    RBG_KIND_KEY,
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


extension = ServingExtension()
