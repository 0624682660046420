"""Core kinds (``apiVersion: v1``): Namespace, Node and Pod.

The Pod spec is a faithful subset of the Kubernetes Pod spec, so pod templates inside Argo,
RoleBasedGroup and agent-sandbox YAML carry over unchanged. Fields Dockyard does not
implement are either rejected (unknown to the model) or listed in ``IGNORED_POD_FIELDS`` /
``IGNORED_CONTAINER_FIELDS``: accepted, kept on the object, and without effect because
ignoring them is harmless on a single-tenant node.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from dockyard.api.base import ApiModel, Resource
from dockyard.api.names import dns1123_label_problem
from dockyard.api.quantity import QuantityError, parse_quantity

RESOURCE_CPU = "cpu"
RESOURCE_MEMORY = "memory"
RESOURCE_GPU = "nvidia.com/gpu"
RESOURCE_GPU_MILLI = "dockyard.dev/gpu-milli"
RESOURCE_GPU_MEMORY = "dockyard.dev/gpu-memory"
RESOURCE_EPHEMERAL_STORAGE = "ephemeral-storage"
STANDARD_RESOURCES = frozenset({RESOURCE_CPU, RESOURCE_MEMORY, RESOURCE_EPHEMERAL_STORAGE, "pods"})

# Harmless on a Dockyard node: pulls don't happen, ports are not mapped, every Pod runs as
# an unprivileged user regardless of securityContext.
IGNORED_CONTAINER_FIELDS = (
    "imagePullPolicy",
    "ports",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "securityContext",
    "stdin",
    "stdinOnce",
    "tty",
)
IGNORED_POD_FIELDS = (
    "serviceAccountName",
    "serviceAccount",
    "automountServiceAccountToken",
    "dnsPolicy",
    "enableServiceLinks",
    "imagePullSecrets",
    "securityContext",
    "tolerations",
    "priorityClassName",
    "subdomain",
)


def _check_resource_map(value: dict[str, Any] | None) -> dict[str, str] | None:
    if value is None:
        return None
    checked: dict[str, str] = {}
    for name, quantity in value.items():
        if name not in STANDARD_RESOURCES and "/" not in name:
            raise ValueError(
                f"unknown resource {name!r}: use cpu, memory, ephemeral-storage or a "
                "domain-qualified extended resource such as nvidia.com/gpu"
            )
        try:
            amount = parse_quantity(quantity)
        except QuantityError as exc:
            raise ValueError(f"resource {name}: {exc}") from None
        if amount < 0:
            raise ValueError(f"resource {name}: must not be negative")
        if name == RESOURCE_GPU_MILLI and not (1 <= amount <= 1000 and amount == int(amount)):
            raise ValueError(
                f"resource {name}: must be a whole number from 1 to 1000 (thousandths of one GPU)"
            )
        checked[name] = str(quantity)
    return checked


class ResourceRequirements(ApiModel):
    requests: dict[str, str] | None = None
    limits: dict[str, str] | None = None

    @field_validator("requests", "limits", mode="before")
    @classmethod
    def _quantities(cls, value: dict[str, Any] | None) -> dict[str, str] | None:
        return _check_resource_map(value)


class ObjectFieldSelector(ApiModel):
    field_path: str
    api_version: str | None = None

    @field_validator("field_path")
    @classmethod
    def _supported(cls, value: str) -> str:
        supported = ("metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName")
        if value not in supported and not value.startswith(
            ("metadata.labels['", "metadata.annotations['")
        ):
            raise ValueError(f"unsupported fieldPath {value!r}; supported: {', '.join(supported)}")
        return value


class EnvVarSource(ApiModel):
    field_ref: ObjectFieldSelector


class EnvVar(ApiModel):
    name: str
    value: str | None = None
    value_from: EnvVarSource | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value or "=" in value or "\0" in value:
            raise ValueError(f"invalid environment variable name {value!r}")
        return value


class VolumeMount(ApiModel):
    name: str
    mount_path: str
    read_only: bool | None = None
    sub_path: str | None = None

    @field_validator("mount_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or ".." in value.split("/"):
            raise ValueError(f"mountPath {value!r} must be an absolute path without '..'")
        return value


class Container(ApiModel):
    name: str
    image: str
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[EnvVar] | None = None
    working_dir: str | None = None
    resources: ResourceRequirements | None = None
    volume_mounts: list[VolumeMount] | None = None
    # Accepted and without effect; see IGNORED_CONTAINER_FIELDS.
    image_pull_policy: str | None = None
    ports: list[dict[str, Any]] | None = None
    termination_message_path: str | None = None
    termination_message_policy: str | None = None
    security_context: dict[str, Any] | None = None
    stdin: bool | None = None
    stdin_once: bool | None = None
    tty: bool | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        problem = dns1123_label_problem(value)
        if problem:
            raise ValueError(f"invalid container name {value!r}: {problem}")
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("image must not be empty")
        return value

    @field_validator("working_dir")
    @classmethod
    def _workdir(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"workingDir {value!r} must be an absolute path")
        return value


class EmptyDirVolumeSource(ApiModel):
    medium: str | None = None
    size_limit: str | None = None


class HostPathVolumeSource(ApiModel):
    path: str
    type: str | None = None

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"hostPath {value!r} must be absolute")
        return value


class Volume(ApiModel):
    """A Pod volume. Only emptyDir and hostPath are supported; hostPath mounts are
    read-only unless the volumeMount says ``readOnly: false`` explicitly."""

    name: str
    empty_dir: EmptyDirVolumeSource | None = None
    host_path: HostPathVolumeSource | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_source(cls, data: Any) -> Any:
        if isinstance(data, dict):
            sources = [k for k in data if k != "name"]
            unsupported = [
                k for k in sources if k not in ("emptyDir", "empty_dir", "hostPath", "host_path")
            ]
            if unsupported:
                raise ValueError(
                    f"volume source {unsupported[0]!r} is not supported (use emptyDir or hostPath)"
                )
            if len(sources) != 1:
                raise ValueError("exactly one volume source (emptyDir or hostPath) is required")
        return data


class PodSpec(ApiModel):
    containers: list[Container] = Field(min_length=1)
    init_containers: list[Container] | None = None
    volumes: list[Volume] | None = None
    restart_policy: Literal["Always", "OnFailure", "Never"] = "Always"
    node_selector: dict[str, str] | None = None
    node_name: str | None = None
    scheduler_name: str | None = None
    priority: int | None = None
    active_deadline_seconds: int | None = Field(default=None, gt=0)
    termination_grace_period_seconds: int | None = Field(default=None, ge=0)
    host_network: bool | None = None
    hostname: str | None = None
    # Accepted and without effect; see IGNORED_POD_FIELDS.
    service_account_name: str | None = None
    service_account: str | None = None
    automount_service_account_token: bool | None = None
    dns_policy: str | None = None
    enable_service_links: bool | None = None
    image_pull_secrets: list[dict[str, Any]] | None = None
    security_context: dict[str, Any] | None = None
    tolerations: list[dict[str, Any]] | None = None
    priority_class_name: str | None = None
    subdomain: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PodSpec:
        all_containers = [*(self.init_containers or []), *self.containers]
        names = [c.name for c in all_containers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate container name {duplicates[0]!r}")
        volumes = [v.name for v in self.volumes or []]
        if len(set(volumes)) != len(volumes):
            raise ValueError("volume names must be unique")
        for container in all_containers:
            for mount in container.volume_mounts or []:
                if mount.name not in volumes:
                    raise ValueError(
                        f"container {container.name!r} mounts volume {mount.name!r}, "
                        "which is not in spec.volumes"
                    )
        return self


class ContainerStateWaiting(ApiModel):
    reason: str | None = None
    message: str | None = None


class ContainerStateRunning(ApiModel):
    started_at: str | None = None


class ContainerStateTerminated(ApiModel):
    exit_code: int
    reason: str | None = None
    message: str | None = None
    started_at: str | None = None
    finished_at: str | None = None


class ContainerState(ApiModel):
    waiting: ContainerStateWaiting | None = None
    running: ContainerStateRunning | None = None
    terminated: ContainerStateTerminated | None = None


class ContainerStatus(ApiModel):
    name: str
    image: str | None = None
    state: ContainerState = Field(default_factory=ContainerState)
    last_state: ContainerState | None = None
    ready: bool = False
    restart_count: int = 0
    started: bool | None = None


class Condition(ApiModel):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str | None = None
    message: str | None = None
    last_transition_time: str | None = None
    last_heartbeat_time: str | None = None


PodPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]
POD_TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
"""Phases a Pod never leaves."""


class PodStatus(ApiModel):
    phase: PodPhase = "Pending"
    node_name: str | None = None
    conditions: list[Condition] | None = None
    reason: str | None = None
    message: str | None = None
    start_time: str | None = None
    finish_time: str | None = None
    host_ip: str | None = Field(default=None, alias="hostIP")
    pod_ip: str | None = Field(default=None, alias="podIP")
    container_statuses: list[ContainerStatus] | None = None
    init_container_statuses: list[ContainerStatus] | None = None


class Pod(Resource):
    API_VERSION = "v1"
    KIND = "Pod"
    PLURAL = "pods"
    SHORT_NAMES = ("po",)

    api_version: str = "v1"
    kind: str = "Pod"
    spec: PodSpec
    status: PodStatus = Field(default_factory=PodStatus)


class GpuDeviceInfo(ApiModel):
    index: int
    uuid: str | None = None
    model: str | None = None
    memory_mib: int | None = None


class Taint(ApiModel):
    key: str
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class NodeSpec(ApiModel):
    unschedulable: bool | None = None
    taints: list[Taint] | None = None


class NodeStatus(ApiModel):
    capacity: dict[str, str] | None = None
    allocatable: dict[str, str] | None = None
    conditions: list[Condition] | None = None
    addresses: list[dict[str, str]] | None = None
    node_info: dict[str, str] | None = None
    gpus: list[GpuDeviceInfo] | None = None


class Node(Resource):
    API_VERSION = "v1"
    KIND = "Node"
    PLURAL = "nodes"
    NAMESPACED = False
    SHORT_NAMES = ("no",)

    api_version: str = "v1"
    kind: str = "Node"
    spec: NodeSpec = Field(default_factory=NodeSpec)
    status: NodeStatus = Field(default_factory=NodeStatus)


class NamespaceStatus(ApiModel):
    phase: Literal["Active", "Terminating"] = "Active"


class NamespaceSpec(ApiModel):
    finalizers: list[str] | None = None


class Namespace(Resource):
    API_VERSION = "v1"
    KIND = "Namespace"
    PLURAL = "namespaces"
    NAMESPACED = False
    SHORT_NAMES = ("ns",)

    api_version: str = "v1"
    kind: str = "Namespace"
    spec: NamespaceSpec = Field(default_factory=NamespaceSpec)
    status: NamespaceStatus = Field(default_factory=NamespaceStatus)

    @field_validator("metadata")
    @classmethod
    def _label_name(cls, value: Any) -> Any:
        name = getattr(value, "name", None)
        if name:
            problem = dns1123_label_problem(name)
            if problem:
                raise ValueError(f"invalid namespace name {name!r}: {problem}")
        return value
