"""Validates a `PodSandboxSpec` and decides how it maps onto one sandbox.

Node layer. `PodSandbox.start` calls `plan_pod` first, so a bad spec fails before anything is
created on the host. Containers of one Pod share a single filesystem view: the mounts of all
containers are united (a volume mounted by one container is visible to all at the same path).
Pure apart from checking that hostPath sources exist.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from dockyard.node.sandbox._bwrap import (
    USERLAND_DIRS,
    BwrapPlan,
    Mount,
    container_path,
    mounts_cover,
)
from dockyard.node.sandbox._images import ImageRuntime, resolve_image
from dockyard.node.sandbox._layout import SANDBOX_DIR, StateLayout
from dockyard.node.sandbox._script import (
    ContainerPlan,
    SupervisorPlan,
    backoff_schedule,
)
from dockyard.node.sandbox._spec import (
    DEFAULT_WORKING_DIR,
    ContainerSpec,
    PodSandboxSpec,
    SandboxError,
    VolumeSpec,
    check_name,
)

#: Mount destinations a volume may not cover: the sandbox's own userland and bookkeeping.
RESERVED_PATHS = ("/usr", "/proc", "/dev", SANDBOX_DIR, *USERLAND_DIRS)
DEFAULT_TMP_BYTES = 1 << 30
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$")


@dataclass(frozen=True)
class PodPlan:
    supervisor: SupervisorPlan
    bwrap: BwrapPlan
    emptydirs: tuple[str, ...]
    extra_dirs: int
    cgroup_key: str


def _check_path(what: str, path: str) -> None:
    if not path.startswith("/") or os.path.normpath(path) != path or path == "/":
        raise SandboxError(f"{what} {path!r} must be a normalised absolute path other than /")


def _devices(spec: PodSandboxSpec) -> tuple[str, ...]:
    for device in spec.devices:
        if not device.startswith("/dev/") or os.path.normpath(device) != device:
            raise SandboxError(f"device {device!r} must be a normalised path under /dev")
    return tuple(spec.devices)


def _mounts(spec: PodSandboxSpec, layout: StateLayout) -> list[Mount]:
    volumes: dict[str, VolumeSpec] = {}
    for volume in spec.volumes:
        check_name("volume", volume.name)
        if volume.name in volumes:
            raise SandboxError(f"volume {volume.name!r} is defined twice")
        if volume.kind == "hostPath":
            if not volume.host_path:
                raise SandboxError(f"hostPath volume {volume.name!r} has no host_path")
            _check_path(f"volume {volume.name!r} host_path", volume.host_path)
            if not os.path.exists(volume.host_path):
                raise SandboxError(
                    f"hostPath volume {volume.name!r}: {volume.host_path} does not exist"
                )
        elif volume.kind != "emptyDir":
            raise SandboxError(f"volume {volume.name!r}: unsupported kind {volume.kind!r}")
        volumes[volume.name] = volume

    by_dest: dict[str, Mount] = {}
    owner: dict[str, str] = {}
    for container in (*spec.init_containers, *spec.containers):
        for vm in container.mounts:
            found = volumes.get(vm.name)
            if found is None:
                raise SandboxError(
                    f"container {container.name!r} mounts unknown volume {vm.name!r}"
                )
            volume = found
            _check_path(f"container {container.name!r} mount_path", vm.mount_path)
            if any(vm.mount_path == r or vm.mount_path.startswith(r + "/") for r in RESERVED_PATHS):
                raise SandboxError(
                    f"container {container.name!r}: cannot mount a volume at {vm.mount_path}"
                )
            if volume.kind == "hostPath":
                source = Path(str(volume.host_path))
                read_only = volume.read_only or vm.read_only
            else:
                source = layout.volume(volume.name)
                read_only = vm.read_only
            seen = owner.get(vm.mount_path)
            if seen is not None and seen != vm.name:
                raise SandboxError(
                    f"{vm.mount_path} is a mount point for both volume {seen!r} and {vm.name!r};"
                    " containers of a Pod share one filesystem view"
                )
            owner[vm.mount_path] = vm.name
            previous = by_dest.get(vm.mount_path)
            # Shared view: read-only only if every container mounts it read-only.
            if previous is not None:
                read_only = read_only and previous.read_only
            by_dest[vm.mount_path] = Mount(source, vm.mount_path, read_only)
    # Parents before children, so a volume nested in another one stays visible.
    return sorted(by_dest.values(), key=lambda m: (m.dest.count("/"), m.dest))


def _check_env(container: str, env: dict[str, str]) -> None:
    for key in env:
        if not key or "=" in key or "\0" in key:
            raise SandboxError(f"container {container!r}: invalid environment name {key!r}")


def plan_pod(spec: PodSandboxSpec) -> PodPlan:
    """Validate `spec` and plan its sandbox; raises SandboxError / UnknownImageError."""
    if not spec.containers and not spec.init_containers:
        raise SandboxError(f"pod {spec.pod_name!r} has no containers")
    if spec.restart_policy not in ("Never", "OnFailure", "Always"):
        raise SandboxError(f"unsupported restart policy {spec.restart_policy!r}")
    if not _HOSTNAME_RE.match(spec.hostname):
        raise SandboxError(f"hostname {spec.hostname!r} is not a valid host name")
    cgroup_key = re.sub(r"[^A-Za-z0-9_.-]", "_", spec.pod_uid)
    if not cgroup_key.strip("._"):
        raise SandboxError(f"pod uid {spec.pod_uid!r} is empty")
    _check_env("(pod extra_env)", spec.extra_env)
    names: set[str] = set()
    runtimes: dict[str, ImageRuntime] = {}
    container_runtime: dict[str, ImageRuntime] = {}
    for container in (*spec.init_containers, *spec.containers):
        check_name("container", container.name)
        if container.name in names:
            raise SandboxError(f"container name {container.name!r} is used twice")
        names.add(container.name)
        _check_env(container.name, container.env)
        runtime = resolve_image(container.image)
        runtimes[runtime.name] = runtime
        container_runtime[container.name] = runtime

    layout = StateLayout(spec.state_dir)
    mounts = [Mount(layout.work, DEFAULT_WORKING_DIR, False), *_mounts(spec, layout)]
    extra: list[Mount] = []

    def container_plan(container: ContainerSpec) -> ContainerPlan:
        runtime = container_runtime[container.name]
        wd = container.working_dir or DEFAULT_WORKING_DIR
        _check_path(f"container {container.name!r} working_dir", wd)
        known = [m.dest for m in (*mounts, *extra)] + ["/tmp"]
        make = False
        if wd in known:
            pass
        elif mounts_cover(known, wd):
            make = True  # below a mount: created on start, as Kubernetes does
        else:
            # Anywhere else the root is read-only, so it gets a writable directory of its own.
            extra.append(Mount(layout.extra_dir(len(extra)), wd, False))
        argv = runtime.argv(container.command, container.args)
        if not argv:
            raise SandboxError(f"container {container.name!r} has no command to run")
        if "=" in argv[0]:
            raise SandboxError(f"container {container.name!r}: command {argv[0]!r} contains '='")
        env = (
            ("PATH", container_path(runtime)),
            ("HOME", wd),
            ("HOSTNAME", spec.hostname),
            *runtime.env,
            *container.env.items(),
            *spec.extra_env.items(),
        )
        return ContainerPlan(container.name, tuple(argv), env, wd, make)

    inits = tuple(container_plan(c) for c in spec.init_containers)
    apps = tuple(container_plan(c) for c in spec.containers)
    limits = spec.limits
    tmp_bytes = limits.tmp_bytes or limits.memory_bytes or DEFAULT_TMP_BYTES
    supervisor = SupervisorPlan(
        pod_name=spec.pod_name,
        pod_uid=spec.pod_uid,
        init_containers=inits,
        containers=apps,
        restart_policy=spec.restart_policy,
        backoffs=backoff_schedule(spec.restart_backoff_seconds, spec.restart_backoff_max_seconds),
    )
    bwrap = BwrapPlan(
        layout=layout,
        hostname=spec.hostname,
        network=spec.network,
        tmp_bytes=tmp_bytes,
        mounts=(*mounts, *extra),
        runtimes=tuple(runtimes.values()),
        oom_file=None,
        devices=_devices(spec),
    )
    emptydirs = tuple(v.name for v in spec.volumes if v.kind == "emptyDir")
    return PodPlan(supervisor, bwrap, emptydirs, len(extra), cgroup_key)
