"""Value types of the Pod sandbox: what the node agent asks for and what it reads back.

Node layer. The node agent turns a bound Pod into a `PodSandboxSpec`, hands it to
`PodSandbox.start`, and later reads `SandboxStatus` to write the Pod's status. These types
carry no behaviour beyond validation of names and paths, so they are safe to build in tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

#: Every process of every Pod runs as this host uid/gid (the conventional "nobody").
SANDBOX_UID = 65534
SANDBOX_GID = 65534

#: Pids limit applied when the Pod asks for none: a fork bomb must never reach the node.
DEFAULT_PIDS_LIMIT = 1024

#: Working directory (and HOME) of a container that names none.
DEFAULT_WORKING_DIR = "/work"

RestartPolicy = Literal["Never", "OnFailure", "Always"]

# Container names become file names under state_dir and words in the supervisor script,
# so they are restricted to a safe alphabet (a superset of Kubernetes DNS labels).
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class SandboxError(Exception):
    """The sandbox could not be created, or an operation on it failed (infrastructure)."""


class UnknownImageError(SandboxError):
    """A container names an image Dockyard cannot map onto the host's userland."""

    def __init__(self, image: str, reason: str) -> None:
        super().__init__(f"image {image!r}: {reason}")
        self.image = image
        self.reason = reason


@dataclass(frozen=True)
class VolumeSpec:
    """A Pod volume. `hostPath` volumes are read-only unless `read_only=False` is explicit."""

    name: str
    kind: Literal["emptyDir", "hostPath"]
    host_path: str | None = None
    read_only: bool = True


@dataclass(frozen=True)
class VolumeMountSpec:
    """Mounts volume `name` at the absolute path `mount_path` inside the sandbox."""

    name: str
    mount_path: str
    read_only: bool = False


@dataclass(frozen=True)
class ContainerSpec:
    """One container. Empty `command` means the image's entrypoint/cmd (Kubernetes rules)."""

    name: str
    image: str
    command: list[str]
    args: list[str]
    env: dict[str, str]
    working_dir: str | None
    mounts: list[VolumeMountSpec]


@dataclass(frozen=True)
class SandboxLimits:
    """Per-Pod resource limits. None means unlimited (pids: `DEFAULT_PIDS_LIMIT`).

    `tmp_bytes` caps the private /tmp tmpfs; None means the memory limit, or 1 GiB.
    """

    memory_bytes: int | None
    cpu_millis: int | None
    pids: int | None
    tmp_bytes: int | None = None


@dataclass(frozen=True)
class PodSandboxSpec:
    """Everything needed to run one Pod. `state_dir` is created by the sandbox and holds all
    of the Pod's files (status, logs, volumes); uid 65534 must be able to traverse its parent.
    `extra_env` is added to every container and wins over the container's own env."""

    pod_uid: str
    pod_name: str
    state_dir: Path
    init_containers: list[ContainerSpec]
    containers: list[ContainerSpec]
    volumes: list[VolumeSpec]
    restart_policy: RestartPolicy
    network: bool
    limits: SandboxLimits
    hostname: str
    extra_env: dict[str, str]
    restart_backoff_seconds: float = 1.0
    restart_backoff_max_seconds: float = 30.0
    # Host device nodes made visible inside the sandbox (e.g. the GPUs the scheduler
    # assigned); ones missing on the host are skipped.
    devices: tuple[str, ...] = ()


@dataclass
class ContainerState:
    """Observed state of one container. While waiting to restart, `reason` is
    "CrashLoopBackOff" and `last_exit_code` holds the previous attempt's exit code."""

    name: str
    state: Literal["waiting", "running", "terminated"]
    exit_code: int | None
    restart_count: int
    started_at: datetime | None
    finished_at: datetime | None
    reason: str | None
    last_exit_code: int | None = None


@dataclass
class SandboxStatus:
    """Observed state of the whole Pod sandbox. `finished` is true once no container will
    run again (all done, init failed, stopped, or the sandbox died)."""

    finished: bool
    init_containers: list[ContainerState]
    containers: list[ContainerState]
    oom_killed: bool
    message: str | None
    finished_at: datetime | None = field(default=None)


def check_name(kind: str, name: str) -> None:
    """Raise SandboxError unless `name` is usable as a container or volume name."""
    if not _NAME_RE.match(name):
        raise SandboxError(
            f"{kind} name {name!r} is invalid: use 1-63 characters from [A-Za-z0-9_.-], "
            "starting with a letter or digit"
        )
