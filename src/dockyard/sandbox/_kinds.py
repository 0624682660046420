"""The agent-sandbox kinds (``agents.x-k8s.io/v1alpha1``): Sandbox, SandboxTemplate,
SandboxWarmPool, SandboxClaim, SandboxSnapshot and SandboxVolume.

Feature layer, API side. A SandboxTemplate says what a sandbox gets (resources, env, start
command, network, home quota, timeout); a SandboxWarmPool keeps ``replicas`` sandboxes of a
template started and unclaimed; a SandboxClaim (or an E2B create) takes one, or starts one
cold when the pool is empty; the Sandbox object records one sandbox's life; a SandboxSnapshot records a saved copy of a
sandbox that new sandboxes start from (E2B's snapshots and forks); a SandboxVolume is a
tenant's persistent directory that sandboxes mount (E2B's volumes). Field names
follow kubernetes-sigs/agent-sandbox where it has them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from dockyard.api import ApiModel, Resource, register_kind

API_VERSION = "agents.x-k8s.io/v1alpha1"
SANDBOX = f"{API_VERSION}/Sandbox"
TEMPLATE = f"{API_VERSION}/SandboxTemplate"
WARM_POOL = f"{API_VERSION}/SandboxWarmPool"
CLAIM = f"{API_VERSION}/SandboxClaim"
SNAPSHOT = f"{API_VERSION}/SandboxSnapshot"
VOLUME = f"{API_VERSION}/SandboxVolume"

#: Where the control plane keeps its sandbox objects (tenants are told apart by label).
NAMESPACE = "default"
TENANT_LABEL = "sandbox.dockyard.dev/tenant"
POOL_LABEL = "sandbox.dockyard.dev/pool"

Phase = Literal["Pending", "Pooled", "Running", "Paused", "Hibernated", "Failed"]


class TemplateRef(ApiModel):
    name: str


class SandboxRequests(ApiModel):
    """What the scheduler reserves for the sandbox on its node. The defaults are about an
    idle sandbox's footprint, so one node holds many; raise them to reserve capacity."""

    cpu: str | int | float = "1m"
    memory: str | int = "8Mi"


class SandboxResources(ApiModel):
    """Limits, quantities as in Kubernetes: ``cpu: "1"``, ``memory: 512Mi``, ``disk: 1Gi``
    (the home quota), ``pids: 256``; ``requests`` is what placement reserves."""

    cpu: str | int | float = 1
    memory: str | int = "512Mi"
    disk: str | int = "1Gi"
    pids: int = Field(default=256, gt=8)
    requests: SandboxRequests = Field(default_factory=SandboxRequests)


class NetworkPolicy(ApiModel):
    allow_internet_access: bool = False


class SandboxTemplateSpec(ApiModel):
    resources: SandboxResources = Field(default_factory=SandboxResources)
    env: dict[str, str] = Field(default_factory=dict)
    start_command: str | None = None
    network: NetworkPolicy = Field(default_factory=NetworkPolicy)
    timeout_seconds: int = Field(default=300, gt=0)
    auto_pause: bool = False
    #: A sandbox paused this long is hibernated (its memory released; connect wakes it).
    hibernate_after_seconds: int | None = Field(default=None, gt=0)
    #: Only nodes with these labels run the template's sandboxes.
    node_selector: dict[str, str] = Field(default_factory=dict)


class SandboxTemplate(Resource):
    API_VERSION = API_VERSION
    KIND = "SandboxTemplate"
    PLURAL = "sandboxtemplates"
    NAMESPACED = True
    SHORT_NAMES = ("sbt",)

    api_version: str = API_VERSION
    kind: str = "SandboxTemplate"
    spec: SandboxTemplateSpec = Field(default_factory=SandboxTemplateSpec)


class VolumeMount(ApiModel):
    """A volume mounted read-write into the sandbox at an absolute `path`."""

    volume_id: str
    name: str
    path: str


class SandboxSpec(ApiModel):
    template_ref: TemplateRef | None = None
    volume_mounts: list[VolumeMount] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: int | None = Field(default=None, gt=0)
    allow_internet_access: bool | None = None
    auto_pause: bool | None = None
    #: Traffic to it while paused or hibernated resumes it.
    auto_resume: bool = False
    #: Running, Paused (frozen, memory kept) or Hibernated (on disk, memory released).
    operating_mode: Literal["Running", "Paused", "Hibernated"] = "Running"
    metadata: dict[str, str] = Field(default_factory=dict)


class SandboxStatus(ApiModel):
    phase: Phase = "Pending"
    node: str | None = None
    state_dir: str | None = None
    started_at: str | None = None
    end_at: str | None = None
    envd_access_token: str | None = None
    unsaved_names: dict[str, list[str]] | None = None
    paused_at: str | None = None
    message: str | None = None
    box: dict[str, Any] | None = None


class Sandbox(Resource):
    API_VERSION = API_VERSION
    KIND = "Sandbox"
    PLURAL = "sandboxes"
    NAMESPACED = True
    SHORT_NAMES = ("sbx",)

    api_version: str = API_VERSION
    kind: str = "Sandbox"
    spec: SandboxSpec = Field(default_factory=SandboxSpec)
    status: SandboxStatus = Field(default_factory=SandboxStatus)


class SandboxWarmPoolSpec(ApiModel):
    replicas: int = Field(ge=0, le=4096)
    template_ref: TemplateRef


class SandboxWarmPoolStatus(ApiModel):
    ready_replicas: int = 0
    #: Why the pool is short, e.g. no node has room for another sandbox.
    message: str | None = None


class SandboxWarmPool(Resource):
    API_VERSION = API_VERSION
    KIND = "SandboxWarmPool"
    PLURAL = "sandboxwarmpools"
    NAMESPACED = True
    SHORT_NAMES = ("sbwp",)

    api_version: str = API_VERSION
    kind: str = "SandboxWarmPool"
    spec: SandboxWarmPoolSpec
    status: SandboxWarmPoolStatus = Field(default_factory=SandboxWarmPoolStatus)


class SandboxClaimSpec(ApiModel):
    template_ref: TemplateRef
    timeout_seconds: int | None = Field(default=None, gt=0)


class SandboxClaimStatus(ApiModel):
    sandbox: str | None = None
    phase: Literal["Pending", "Bound", "Failed"] = "Pending"
    message: str | None = None


class SandboxClaim(Resource):
    API_VERSION = API_VERSION
    KIND = "SandboxClaim"
    PLURAL = "sandboxclaims"
    NAMESPACED = True
    SHORT_NAMES = ("sbc",)

    api_version: str = API_VERSION
    kind: str = "SandboxClaim"
    spec: SandboxClaimSpec
    status: SandboxClaimStatus = Field(default_factory=SandboxClaimStatus)


class SandboxSnapshotSpec(ApiModel):
    """What a new sandbox started from the snapshot gets: the source's template shape
    (kept here, so the snapshot outlives changes to its template), env and network; and
    whether the code contexts' state was saved (``memory``) or only the home directory."""

    source_sandbox_id: str
    template_ref: TemplateRef
    names: list[str] = Field(default_factory=list)
    memory: bool = True
    env: dict[str, str] = Field(default_factory=dict)
    allow_internet_access: bool = False
    shape: dict[str, Any] = Field(default_factory=dict)
    volume_mounts: list[VolumeMount] = Field(default_factory=list)
    #: The archive's file name in the control plane's snapshot directory.
    archive: str | None = None


class SandboxSnapshotStatus(ApiModel):
    created_at: str | None = None
    #: Globals of each code context that could not be saved (they are missing on start).
    unsaved_names: dict[str, list[str]] | None = None
    size_bytes: int = 0


class SandboxSnapshot(Resource):
    API_VERSION = API_VERSION
    KIND = "SandboxSnapshot"
    PLURAL = "sandboxsnapshots"
    NAMESPACED = True
    SHORT_NAMES = ("sbs",)

    api_version: str = API_VERSION
    kind: str = "SandboxSnapshot"
    spec: SandboxSnapshotSpec
    status: SandboxSnapshotStatus = Field(default_factory=SandboxSnapshotStatus)


class SandboxVolumeSpec(ApiModel):
    #: Unique among the tenant's volumes; sandboxes mount a volume by its name.
    name: str


class SandboxVolumeStatus(ApiModel):
    created_at: str | None = None
    #: The bearer token of the volume's content API.
    token: str | None = None


class SandboxVolume(Resource):
    API_VERSION = API_VERSION
    KIND = "SandboxVolume"
    PLURAL = "sandboxvolumes"
    NAMESPACED = True
    SHORT_NAMES = ("sbv",)

    api_version: str = API_VERSION
    kind: str = "SandboxVolume"
    spec: SandboxVolumeSpec
    status: SandboxVolumeStatus = Field(default_factory=SandboxVolumeStatus)


for _kind in (
    Sandbox,
    SandboxTemplate,
    SandboxWarmPool,
    SandboxClaim,
    SandboxSnapshot,
    SandboxVolume,
):
    register_kind(_kind)
