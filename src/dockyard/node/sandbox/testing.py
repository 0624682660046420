"""Fluent builders for `PodSandboxSpec`, for tests of the node layer and above.

Node layer, test support (shipped so that tests of the node agent can build sandbox specs the
same way these tests do):

    spec = make_pod(tmp_path / "pod").sh("main", "echo hi").restart("OnFailure").build()
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Self

from dockyard.node.sandbox._spec import (
    ContainerSpec,
    PodSandboxSpec,
    RestartPolicy,
    SandboxLimits,
    VolumeMountSpec,
    VolumeSpec,
)


@dataclass
class PodSpecBuilder:
    state_dir: Path
    name: str = "pod"
    uid: str = ""
    _inits: list[ContainerSpec] = field(default_factory=list)
    _containers: list[ContainerSpec] = field(default_factory=list)
    _volumes: list[VolumeSpec] = field(default_factory=list)
    _policy: RestartPolicy = "Never"
    _network: bool = False
    _limits: SandboxLimits = field(default_factory=lambda: SandboxLimits(None, None, None))
    _hostname: str = ""
    _extra_env: dict[str, str] = field(default_factory=dict)
    _backoff: tuple[float, float] = (0.05, 0.2)

    def container(
        self,
        name: str,
        *command: str,
        image: str = "busybox",
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        working_dir: str | None = None,
        mounts: list[VolumeMountSpec] | None = None,
        init: bool = False,
    ) -> Self:
        spec = ContainerSpec(
            name=name,
            image=image,
            command=list(command),
            args=list(args or []),
            env=dict(env or {}),
            working_dir=working_dir,
            mounts=list(mounts or []),
        )
        (self._inits if init else self._containers).append(spec)
        return self

    def sh(
        self,
        name: str,
        script: str,
        *,
        env: dict[str, str] | None = None,
        working_dir: str | None = None,
        mounts: list[VolumeMountSpec] | None = None,
        init: bool = False,
    ) -> Self:
        """A busybox container running `sh -c script`."""
        return self.container(
            name, "sh", "-c", script, env=env, working_dir=working_dir, mounts=mounts, init=init
        )

    def python(
        self,
        name: str,
        code: str,
        *,
        env: dict[str, str] | None = None,
        mounts: list[VolumeMountSpec] | None = None,
        init: bool = False,
    ) -> Self:
        """A `python:3.11` container running `python -c code`."""
        return self.container(
            name, "python", "-c", code, image="python:3.11", env=env, mounts=mounts, init=init
        )

    def empty_dir(self, name: str) -> Self:
        self._volumes.append(VolumeSpec(name, "emptyDir"))
        return self

    def host_path(self, name: str, path: str | Path, read_only: bool = True) -> Self:
        self._volumes.append(VolumeSpec(name, "hostPath", str(path), read_only))
        return self

    def restart(self, policy: RestartPolicy) -> Self:
        self._policy = policy
        return self

    def backoff(self, initial: float, maximum: float) -> Self:
        self._backoff = (initial, maximum)
        return self

    def network(self, enabled: bool = True) -> Self:
        self._network = enabled
        return self

    def memory(self, limit_bytes: int) -> Self:
        self._limits = replace(self._limits, memory_bytes=limit_bytes)
        return self

    def cpu(self, millis: int) -> Self:
        self._limits = replace(self._limits, cpu_millis=millis)
        return self

    def pids(self, limit: int) -> Self:
        self._limits = replace(self._limits, pids=limit)
        return self

    def hostname(self, hostname: str) -> Self:
        self._hostname = hostname
        return self

    def extra_env(self, **env: str) -> Self:
        self._extra_env.update(env)
        return self

    def build(self) -> PodSandboxSpec:
        return PodSandboxSpec(
            # Unique by default: the cgroup is named after the uid, and test runs may overlap.
            pod_uid=self.uid or f"uid-{self.name}-{uuid.uuid4().hex[:8]}",
            pod_name=self.name,
            state_dir=self.state_dir,
            init_containers=list(self._inits),
            containers=list(self._containers),
            volumes=list(self._volumes),
            restart_policy=self._policy,
            network=self._network,
            limits=self._limits,
            hostname=self._hostname or self.name,
            extra_env=dict(self._extra_env),
            restart_backoff_seconds=self._backoff[0],
            restart_backoff_max_seconds=self._backoff[1],
        )


def make_pod(state_dir: Path, name: str = "pod", uid: str = "") -> PodSpecBuilder:
    """Start building a Pod whose state lives in `state_dir` (restart policy Never, no
    limits, no network, short restart backoff)."""
    return PodSpecBuilder(state_dir=state_dir, name=name, uid=uid)
