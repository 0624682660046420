"""The Argo kinds (``argoproj.io/v1alpha1``): Workflow, WorkflowTemplate,
ClusterWorkflowTemplate and CronWorkflow, accepted as Argo YAML.

Workflows layer. Argo's own structures (templates, steps, DAG tasks, parameters, retry,
synchronization, ...) are modelled field by field, so a misspelt Argo field is rejected
with its path. Embedded Kubernetes structures (containers, pod metadata, affinity,
metrics, podSpecPatch, ...) are kept as plain maps: the engine ignores pod-level fields a
local node has no use for, as the Argo examples expect.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator

from dockyard.api import ApiModel, Resource, register_kind

GROUP_VERSION = "argoproj.io/v1alpha1"
AnyString = str | int | float | bool
KubeMap = dict[str, Any]


class ValueFrom(ApiModel):
    path: str | None = None
    json_path: str | None = None
    jq_filter: str | None = None
    event: str | None = None
    parameter: str | None = None
    default: AnyString | None = None
    supplied: dict[str, Any] | None = None
    config_map_key_ref: KubeMap | None = None
    expression: str | None = None


class Parameter(ApiModel):
    name: str
    value: AnyString | None = None
    default: AnyString | None = None
    value_from: ValueFrom | None = None
    global_name: str | None = None
    enum: list[AnyString] | None = None
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value:
            raise ValueError("parameter name must not be empty")
        return value


class Arguments(ApiModel):
    parameters: list[Parameter] | None = None
    artifacts: list[KubeMap] | None = None


class Inputs(ApiModel):
    parameters: list[Parameter] | None = None
    artifacts: list[KubeMap] | None = None


class Outputs(ApiModel):
    parameters: list[Parameter] | None = None
    artifacts: list[KubeMap] | None = None
    result: str | None = None
    exit_code: str | None = None


class Backoff(ApiModel):
    duration: AnyString | None = None
    factor: AnyString | None = None
    cap: AnyString | None = None
    max_duration: AnyString | None = None


class RetryStrategy(ApiModel):
    limit: AnyString | None = None
    retry_policy: str | None = None
    backoff: Backoff | None = None
    affinity: KubeMap | None = None
    expression: str | None = None

    @field_validator("retry_policy")
    @classmethod
    def _policy(cls, value: str | None) -> str | None:
        allowed = ("Always", "OnFailure", "OnError", "OnTransientError")
        if value is not None and value not in allowed:
            raise ValueError(f"retryPolicy must be one of {', '.join(allowed)}")
        return value


class Sequence(ApiModel):
    count: AnyString | None = None
    start: AnyString | None = None
    end: AnyString | None = None
    format: str | None = None


class ContinueOn(ApiModel):
    error: bool | None = None
    failed: bool | None = None


class TemplateRef(ApiModel):
    name: str
    template: str
    cluster_scope: bool | None = None


class LifecycleHook(ApiModel):
    template: str | None = None
    arguments: Arguments | None = None
    template_ref: TemplateRef | None = None
    expression: str | None = None


class _Invocation(ApiModel):
    """What steps and DAG tasks share: which template to run and with what."""

    name: str | None = None
    template: str | None = None
    inline: Template | None = None
    arguments: Arguments | None = None
    template_ref: TemplateRef | None = None
    with_items: list[Any] | None = None
    with_param: str | None = None
    with_sequence: Sequence | None = None
    when: str | None = None
    continue_on: ContinueOn | None = None
    on_exit: str | None = None
    hooks: dict[str, LifecycleHook] | None = None


class WorkflowStep(_Invocation):
    pass


class DAGTask(_Invocation):
    name: str | None = None
    dependencies: list[str] | None = None
    depends: str | None = None


class DAGTemplate(ApiModel):
    target: str | None = None
    tasks: list[DAGTask]
    fail_fast: bool | None = None


class SuspendTemplate(ApiModel):
    duration: AnyString | None = None


class SemaphoreRef(ApiModel):
    config_map_key_ref: KubeMap | None = None
    namespace: str | None = None
    database: KubeMap | None = None


class Mutex(ApiModel):
    name: str | None = None
    namespace: str | None = None
    database: bool | None = None


class Synchronization(ApiModel):
    semaphore: SemaphoreRef | None = None
    mutex: Mutex | None = None
    semaphores: list[SemaphoreRef] | None = None
    mutexes: list[Mutex] | None = None


class Memoize(ApiModel):
    key: str
    cache: KubeMap | None = None
    max_age: str | None = None


class Template(ApiModel):
    name: str | None = None
    inputs: Inputs | None = None
    outputs: Outputs | None = None
    steps: list[list[WorkflowStep]] | None = None
    dag: DAGTemplate | None = None
    container: KubeMap | None = None
    script: KubeMap | None = None
    suspend: SuspendTemplate | None = None
    resource: KubeMap | None = None
    http: KubeMap | None = None
    plugin: KubeMap | None = None
    data: KubeMap | None = None
    container_set: KubeMap | None = None
    retry_strategy: RetryStrategy | None = None
    active_deadline_seconds: AnyString | None = None
    timeout: str | None = None
    parallelism: int | None = None
    fail_fast: bool | None = None
    synchronization: Synchronization | None = None
    memoize: Memoize | None = None
    daemon: bool | None = None
    priority: int | None = None
    # Pod-level fields: accepted, kept, without effect on a local node.
    metadata: KubeMap | None = None
    node_selector: dict[str, str] | None = None
    affinity: KubeMap | None = None
    tolerations: list[KubeMap] | None = None
    volumes: list[KubeMap] | None = None
    init_containers: list[KubeMap] | None = None
    sidecars: list[KubeMap] | None = None
    archive_location: KubeMap | None = None
    scheduler_name: str | None = None
    priority_class_name: str | None = None
    service_account_name: str | None = None
    automount_service_account_token: bool | None = None
    executor: KubeMap | None = None
    host_aliases: list[KubeMap] | None = None
    security_context: KubeMap | None = None
    pod_spec_patch: str | None = None
    metrics: KubeMap | None = None
    artifact_gc: KubeMap | None = None


class TTLStrategy(ApiModel):
    seconds_after_completion: int | None = None
    seconds_after_success: int | None = None
    seconds_after_failure: int | None = None


class PodGC(ApiModel):
    strategy: str | None = None
    label_selector: KubeMap | None = None
    delete_delay_duration: str | None = None


class WorkflowTemplateRef(ApiModel):
    name: str
    cluster_scope: bool | None = None


class LabelValueFrom(ApiModel):
    expression: str


class WorkflowMetadata(ApiModel):
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    labels_from: dict[str, LabelValueFrom] | None = None


class WorkflowSpec(ApiModel):
    templates: list[Template] | None = None
    entrypoint: str | None = None
    arguments: Arguments | None = None
    on_exit: str | None = None
    hooks: dict[str, LifecycleHook] | None = None
    parallelism: int | None = None
    priority: int | None = None
    suspend: bool | None = None
    shutdown: str | None = None
    active_deadline_seconds: int | None = None
    synchronization: Synchronization | None = None
    ttl_strategy: TTLStrategy | None = None
    pod_gc: PodGC | None = Field(default=None, alias="podGC")
    template_defaults: Template | None = None
    workflow_template_ref: WorkflowTemplateRef | None = None
    retry_strategy: RetryStrategy | None = None
    workflow_metadata: WorkflowMetadata | None = None
    metrics: KubeMap | None = None
    # Pod-level and cluster fields: accepted, kept, without effect on a local node.
    service_account_name: str | None = None
    automount_service_account_token: bool | None = None
    executor: KubeMap | None = None
    volumes: list[KubeMap] | None = None
    volume_claim_templates: list[KubeMap] | None = None
    volume_claim_gc: KubeMap | None = None
    artifact_repository_ref: KubeMap | None = None
    artifact_gc: KubeMap | None = None
    archive_logs: bool | None = None
    node_selector: dict[str, str] | None = None
    affinity: KubeMap | None = None
    tolerations: list[KubeMap] | None = None
    image_pull_secrets: list[KubeMap] | None = None
    host_network: bool | None = None
    dns_policy: str | None = None
    dns_config: KubeMap | None = None
    scheduler_name: str | None = None
    pod_priority_class_name: str | None = None
    pod_priority: int | None = None
    host_aliases: list[KubeMap] | None = None
    security_context: KubeMap | None = None
    pod_spec_patch: str | None = None
    pod_disruption_budget: KubeMap | None = None
    pod_metadata: KubeMap | None = None
    pod_resources: KubeMap | None = None


class Workflow(Resource):
    API_VERSION: ClassVar[str] = GROUP_VERSION
    KIND: ClassVar[str] = "Workflow"
    PLURAL: ClassVar[str] = "workflows"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("wf",)
    api_version: str = GROUP_VERSION
    kind: str = "Workflow"
    spec: WorkflowSpec
    status: dict[str, Any] | None = None


class WorkflowTemplate(Resource):
    API_VERSION: ClassVar[str] = GROUP_VERSION
    KIND: ClassVar[str] = "WorkflowTemplate"
    PLURAL: ClassVar[str] = "workflowtemplates"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("wftmpl",)
    api_version: str = GROUP_VERSION
    kind: str = "WorkflowTemplate"
    spec: WorkflowSpec


class ClusterWorkflowTemplate(Resource):
    API_VERSION: ClassVar[str] = GROUP_VERSION
    KIND: ClassVar[str] = "ClusterWorkflowTemplate"
    PLURAL: ClassVar[str] = "clusterworkflowtemplates"
    NAMESPACED: ClassVar[bool] = False
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("cwftmpl",)
    api_version: str = GROUP_VERSION
    kind: str = "ClusterWorkflowTemplate"
    spec: WorkflowSpec


class StopStrategy(ApiModel):
    expression: str | None = None
    condition: str | None = None


class CronWorkflowSpec(ApiModel):
    workflow_spec: WorkflowSpec
    schedule: str | None = None
    schedules: list[str] | None = None
    timezone: str | None = None
    concurrency_policy: str | None = None
    starting_deadline_seconds: int | None = None
    successful_jobs_history_limit: int | None = None
    failed_jobs_history_limit: int | None = None
    suspend: bool | None = None
    workflow_metadata: KubeMap | None = None
    stop_strategy: StopStrategy | None = None
    when: str | None = None

    @field_validator("concurrency_policy")
    @classmethod
    def _policy(cls, value: str | None) -> str | None:
        if value is not None and value not in ("Allow", "Forbid", "Replace"):
            raise ValueError("concurrencyPolicy must be Allow, Forbid or Replace")
        return value


class CronWorkflow(Resource):
    API_VERSION: ClassVar[str] = GROUP_VERSION
    KIND: ClassVar[str] = "CronWorkflow"
    PLURAL: ClassVar[str] = "cronworkflows"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("cwf", "cronwf")
    api_version: str = GROUP_VERSION
    kind: str = "CronWorkflow"
    spec: CronWorkflowSpec
    status: dict[str, Any] | None = None


_Invocation.model_rebuild()
WorkflowStep.model_rebuild()
DAGTask.model_rebuild()

WORKFLOW = f"{GROUP_VERSION}/Workflow"
WORKFLOW_TEMPLATE = f"{GROUP_VERSION}/WorkflowTemplate"
CLUSTER_WORKFLOW_TEMPLATE = f"{GROUP_VERSION}/ClusterWorkflowTemplate"
CRON_WORKFLOW = f"{GROUP_VERSION}/CronWorkflow"

for _model in (Workflow, WorkflowTemplate, ClusterWorkflowTemplate, CronWorkflow):
    register_kind(_model)
