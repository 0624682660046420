"""The serving kinds: RoleBasedGroup (``workloads.x-k8s.io/v1alpha1``) and InferencePool
(``inference.networking.x-k8s.io/v1alpha2``).

Serving layer, API models only. RoleBasedGroup follows the RBG project's shape: a group of
roles, each with ``replicas``, ``dependencies`` (roles that must be ready first), a Pod
``template``, a ``rolloutStrategy`` and optional ``engineRuntimes``. The P:D ratio of a
disaggregated deployment is simply the replica counts of its prefill and decode roles.
InferencePool follows the Gateway API Inference Extension: ``selector`` picks engine Pods,
``targetPortNumber`` is where they serve.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from dockyard.api import ApiModel, ObjectMeta, PodSpec, Resource, register_kind
from dockyard.api.base import OwnerReference  # noqa: F401 - re-exported for controllers
from dockyard.api.names import dns1123_label_problem

RBG_API_VERSION = "workloads.x-k8s.io/v1alpha1"
RBG_KIND_KEY = f"{RBG_API_VERSION}/RoleBasedGroup"
POOL_API_VERSION = "inference.networking.x-k8s.io/v1alpha2"
POOL_KIND_KEY = f"{POOL_API_VERSION}/InferencePool"


class PodTemplate(ApiModel):
    metadata: ObjectMeta | None = None
    spec: PodSpec


class RollingUpdate(ApiModel):
    max_unavailable: int = Field(default=1, ge=0)
    max_surge: int = Field(default=0, ge=0)
    partition: int = Field(default=0, ge=0)


class RolloutStrategy(ApiModel):
    type: Literal["RollingUpdate", "Recreate"] = "RollingUpdate"
    rolling_update: RollingUpdate | None = None


class EngineRuntime(ApiModel):
    """Turns a role's main container into an engine command line.

    ``profileName``: ``emulator`` (runs here), ``vllm`` or ``sglang`` (for GPU nodes).
    ``engineRole``: ``both``/``prefill``/``decode`` (default: the role's name when it is
    ``prefill`` or ``decode``). ``model`` and ``args`` are appended to the command line.
    """

    profile_name: Literal["emulator", "vllm", "sglang"]
    engine_role: Literal["both", "prefill", "decode"] | None = None
    model: str | None = None
    args: list[str] | None = None
    containers: list[dict[str, Any]] | None = None  # accepted for RBG compatibility


class Role(ApiModel):
    name: str
    replicas: int = Field(default=1, ge=0)
    dependencies: list[str] | None = None
    template: PodTemplate
    rollout_strategy: RolloutStrategy | None = None
    restart_policy: str | None = None
    engine_runtimes: list[EngineRuntime] | None = None
    scaling_adapter: dict[str, Any] | None = None
    drain_seconds: float = Field(default=30.0, ge=0)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        problem = dns1123_label_problem(value)
        if problem:
            raise ValueError(f"invalid role name {value!r}: {problem}")
        return value


class RoleBasedGroupSpec(ApiModel):
    roles: list[Role] = Field(min_length=1)

    @model_validator(mode="after")
    def _dependencies(self) -> RoleBasedGroupSpec:
        names = [r.name for r in self.roles]
        if len(set(names)) != len(names):
            raise ValueError("role names must be unique")
        for role in self.roles:
            for dep in role.dependencies or []:
                if dep not in names:
                    raise ValueError(f"role {role.name!r} depends on unknown role {dep!r}")
        startup_order(self.roles)  # raises on cycles
        return self


def startup_order(roles: list[Role]) -> list[Role]:
    """Roles sorted so each comes after its dependencies; ValueError on a cycle."""
    by_name = {r.name: r for r in roles}
    done: list[Role] = []
    state: dict[str, int] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise ValueError("dependency cycle: " + " -> ".join((*path, name)))
        state[name] = 1
        for dep in by_name[name].dependencies or []:
            visit(dep, (*path, name))
        state[name] = 2
        done.append(by_name[name])

    for role in roles:
        visit(role.name, ())
    return done


class RoleStatus(ApiModel):
    name: str
    replicas: int = 0
    ready_replicas: int = 0
    updated_replicas: int = 0


class RoleBasedGroupStatus(ApiModel):
    observed_generation: int | None = None
    roles: list[RoleStatus] | None = None
    conditions: list[dict[str, Any]] | None = None


class RoleBasedGroup(Resource):
    API_VERSION = RBG_API_VERSION
    KIND = "RoleBasedGroup"
    PLURAL = "rolebasedgroups"
    SHORT_NAMES = ("rbg",)
    api_version: str = RBG_API_VERSION
    kind: str = "RoleBasedGroup"
    spec: RoleBasedGroupSpec
    status: RoleBasedGroupStatus = Field(default_factory=RoleBasedGroupStatus)


class InferencePoolSpec(ApiModel):
    selector: dict[str, str] = Field(min_length=1)
    target_port_number: int = Field(default=8000, ge=1, le=65535)
    extension_ref: dict[str, Any] | None = None
    endpoint_picker_ref: dict[str, Any] | None = None


class InferencePool(Resource):
    API_VERSION = POOL_API_VERSION
    KIND = "InferencePool"
    PLURAL = "inferencepools"
    SHORT_NAMES = ("infpool",)
    api_version: str = POOL_API_VERSION
    kind: str = "InferencePool"
    spec: InferencePoolSpec
    status: dict[str, Any] = Field(default_factory=dict)


def register() -> None:
    register_kind(RoleBasedGroup)
    register_kind(InferencePool)
