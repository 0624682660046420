"""Pod sandbox executor: runs each Pod in one bubblewrap sandbox with its own cgroup.

Node layer. The node agent turns each Pod bound to this node into a `PodSandboxSpec` and
calls `PodSandbox.start`; it reads `PodSandbox.status()` to report the Pod's status, calls
`kill()` and `cleanup()` when the Pod goes away, and `PodSandbox.adopt()` after a restart.
A Pod's processes run as uid 65534 on the host's read-only userland (see `resolve_image`),
inside their own user, pid, mount, ipc, uts and (unless asked otherwise) network namespaces,
limited by a per-Pod cgroup (`cgroup_driver()` says which kind this node uses).
"""

from dockyard.node.sandbox._cgroups import cgroup_driver
from dockyard.node.sandbox._images import (
    ImageRuntime,
    register_image,
    resolve_image,
    supported_images,
)
from dockyard.node.sandbox._pod import PodSandbox
from dockyard.node.sandbox._spec import (
    ContainerSpec,
    ContainerState,
    PodSandboxSpec,
    SandboxError,
    SandboxLimits,
    SandboxStatus,
    UnknownImageError,
    VolumeMountSpec,
    VolumeSpec,
)

__all__ = [
    "ContainerSpec",
    "ContainerState",
    "ImageRuntime",
    "PodSandbox",
    "PodSandboxSpec",
    "SandboxError",
    "SandboxLimits",
    "SandboxStatus",
    "UnknownImageError",
    "VolumeMountSpec",
    "VolumeSpec",
    "cgroup_driver",
    "register_image",
    "resolve_image",
    "supported_images",
]
