"""Pod sandbox executor: runs each Pod in one bubblewrap sandbox with its own cgroup.

Node layer. The node agent turns each Pod bound to this node into a `PodSandboxSpec` and
calls `PodSandbox.start`; it reads `PodSandbox.status()` to report the Pod's status, calls
`kill()` and `cleanup()` when the Pod goes away, and `PodSandbox.adopt()` after a restart.

What a Pod gets:

- One sandbox for all its containers (shared filesystem view, volumes, /tmp, network
  namespace and loopback), run by a generated sh supervisor: init containers in order, then
  app containers concurrently under the Pod's restart policy with exponential backoff.
- Processes run as uid/gid 65534 with no capabilities, in their own user, pid, mount, ipc,
  uts and (unless `network=True`) network namespaces; nested user namespaces are refused.
- A read-only view of the host's /usr (and /bin, /lib*, /sbin) plus a short list of /etc
  files (never shadow); writable: /work (default working directory and HOME), a size-capped
  /tmp, emptyDir volumes, and hostPath volumes explicitly marked writable.
- A clean environment: PATH, HOME, HOSTNAME, the container's env, then the Pod's extra_env.
- A per-Pod cgroup (`cgroup_driver()` says "v1", "v2" or "none") with memory (no swap),
  cpu and pids limits (1024 pids unless asked); OOM kills are reported as "OOMKilled".
- stdout and stderr of each container in `state_dir/logs/<container>.log`.

Images (`resolve_image`, extensible with `register_image`): busybox, alpine, debian and
ubuntu run on the host's shell userland, python runs the host's python3; tags are ignored.
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
