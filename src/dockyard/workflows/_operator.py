"""The workflow operator: one pass over one Workflow, Argo's ``operate()``.

Workflows layer. Every reconcile re-walks the workflow from its entrypoint. Node names
are deterministic, so each step finds the node it created before and only moves it
forward: a Pod node creates its Pod once and later reads its result; steps, DAGs, loops,
retries and hooks derive their state from their children. The pass ends with the new
``status`` (written by the controller), when to look again (``requeue_after``) for
timers nothing else wakes (retry backoff, suspend durations, deadlines), and ``again``
when another pass could move on at once: a node held back by ``parallelism``, or a
non-Pod node that finished after parts of the walk had already looked at it.

All I/O goes through :class:`OperatorEnv` (the store, the clock, step files), so the
operator runs in tests against fakes, in virtual time.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from dockyard.workflows._depends import (
    DependsError,
    evaluate_depends,
    from_dependencies,
    parse_depends,
    referenced_tasks,
)
from dockyard.workflows._memo import MemoCache
from dockyard.workflows._nodes import (
    COMPLETED,
    ERROR,
    FAILED,
    FAILED_OR_ERROR,
    FULFILLED,
    OMITTED,
    PENDING,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    NodeRecord,
    fulfilled,
    new_node,
    node_id,
    pod_name,
)
from dockyard.workflows._params import (
    ParamError,
    Params,
    aggregate_scope,
    as_text,
    expand_items,
    inputs_scope,
    item_display,
    item_scope,
    node_scope,
    resolve_inputs,
)
from dockyard.workflows._pods import (
    PodRequest,
    StepFiles,
    build_pod,
    main_exit_code,
    read_output_file,
)
from dockyard.workflows._ray import ray_annotations
from dockyard.workflows._resolve import ResolveError, Resolver, TemplateSource
from dockyard.workflows._retry import decide_retry
from dockyard.workflows._sync import SyncManager, lock_names
from dockyard.workflows._tags import UnresolvedError, render, substitute
from dockyard.workflows.expr import (
    ExprError,
    evaluate,
    evaluate_when,
    nested_env,
    parse_go_duration,
)

POD_TYPES = ("container", "script")
NODE_TYPE = {
    "container": "Pod",
    "script": "Pod",
    "steps": "Steps",
    "dag": "DAG",
    "suspend": "Suspend",
}


class OperatorEnv(Protocol):
    """The world the operator acts on."""

    def now(self) -> datetime: ...

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The step Pod, or None. While it is Pending or Running the answer may hold only
        ``spec.nodeName`` and ``status.phase``: the operator reads nothing else of a Pod
        in flight."""
        ...

    def create_pod(self, pod: dict[str, Any]) -> None: ...

    def delete_pod(self, namespace: str, name: str) -> None: ...

    def lookup(self, kind_key: str, namespace: str, name: str) -> dict[str, Any] | None: ...

    @property
    def files_root(self) -> Path: ...

    @property
    def sync(self) -> SyncManager: ...

    @property
    def memo(self) -> MemoCache: ...


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def template_kind(template: dict[str, Any]) -> str | None:
    for kind in ("container", "script", "steps", "dag", "suspend"):
        if template.get(kind) is not None:
            return kind
    for kind in ("resource", "http", "plugin", "data", "containerSet"):
        if template.get(kind) is not None:
            return kind
    return None


@dataclass
class OperateResult:
    status: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)
    requeue_after: float | None = None
    finished: bool = False
    again: bool = False


class WorkflowOperator:
    """One pass over one Workflow. Create it per reconcile; call :meth:`operate`."""

    def __init__(self, workflow: dict[str, Any], env: OperatorEnv) -> None:
        self.wf = workflow
        self.env = env
        self.meta = workflow["metadata"]
        self.name: str = self.meta["name"]
        self.namespace: str = self.meta.get("namespace") or "default"
        # A JSON round trip: the status is JSON data, and this is far cheaper than deepcopy.
        self.status: dict[str, Any] = json.loads(json.dumps(workflow.get("status") or {}))
        self.nodes: dict[str, NodeRecord] = self.status.setdefault("nodes", {})
        self.now = env.now()
        self.now_text = format_time(self.now)
        self.wakeups: list[float] = []
        self.spec: dict[str, Any] = {}
        self.globals: dict[str, Any] = {}
        self.active_pods = 0
        self.parallelism: int | None = None
        self.shutdown = ""
        self.suspended = False
        self.owner_key = f"{self.namespace}/{self.name}"
        self.priority = 0
        self.resolver: Resolver | None = None
        self.again = False
        self._child_sets: dict[str, set[str]] = {}  # parent id → its children, for fan-outs

    # == the pass =========================================================================
    def operate(self) -> OperateResult:
        if self.status.get("phase") in (SUCCEEDED, FAILED, ERROR) and self.status.get("finishedAt"):
            return OperateResult(self.status, finished=True)
        try:
            self._prepare()
        except (ResolveError, ParamError, UnresolvedError, ExprError) as exc:
            self._finish(ERROR, str(exc))
            return OperateResult(self.status, finished=True)
        labels = self._labels_from()
        if not self._acquire_workflow_locks():
            self.status["phase"] = RUNNING
            return OperateResult(self.status, labels)
        self.status["phase"] = RUNNING
        self.status.setdefault("startedAt", self.now_text)
        self._check_deadline()
        root = self._execute_entry()
        if root is not None and fulfilled(root):
            exit_node = self._run_workflow_exit(root)
            if exit_node is None or fulfilled(exit_node):
                self._complete(root, exit_node)
        self._run_workflow_hooks()
        self._update_progress()
        wake = min(self.wakeups) if self.wakeups else None
        finished = self.status.get("phase") in (SUCCEEDED, FAILED, ERROR)
        if finished:
            self.env.sync.release_owner(self.owner_key)
        return OperateResult(self.status, labels, wake, finished, self.again)

    def _prepare(self) -> None:
        from dockyard.workflows._resolve import merge_workflow_template

        stored_spec = self.status.get("storedWorkflowTemplateSpec")
        if stored_spec is None and self.wf["spec"].get("workflowTemplateRef"):
            stored_spec = merge_workflow_template(self.wf["spec"], self.env.lookup, self.namespace)
            self.status["storedWorkflowTemplateSpec"] = stored_spec
        self.spec = stored_spec if stored_spec is not None else self.wf["spec"]
        self.shutdown = str(self.wf["spec"].get("shutdown") or "")
        self.suspended = bool(self.wf["spec"].get("suspend"))
        self.parallelism = self.spec.get("parallelism")
        self.priority = int(self.spec.get("priority") or 0)
        stored = self.status.setdefault("storedTemplates", {})
        self.resolver = Resolver(self.spec, self.namespace, self.env.lookup, stored)
        self.globals = self._global_scope()
        self.active_pods = sum(
            1
            for n in self.nodes.values()
            if n["type"] == "Pod" and n["phase"] in (PENDING, RUNNING) and n.get("podCreated")
        )

    def _global_scope(self) -> dict[str, Any]:
        meta = self.meta
        created = meta.get("creationTimestamp") or self.now_text
        scope: dict[str, Any] = {
            "workflow.name": self.name,
            "workflow.namespace": self.namespace,
            "workflow.uid": meta.get("uid", ""),
            "workflow.serviceAccountName": self.spec.get("serviceAccountName") or "default",
            "workflow.creationTimestamp": created,
            "workflow.priority": str(self.priority),
            "workflow.mainEntrypoint": self.spec.get("entrypoint", ""),
        }
        scope.update(_creation_scope(created))
        started = self.status.get("startedAt")
        if started:
            scope["workflow.duration"] = str(
                max(0.0, (self.now - parse_time(started)).total_seconds())
            )
        for key, value in (meta.get("labels") or {}).items():
            scope[f"workflow.labels.{key}"] = value
        for key, value in (meta.get("annotations") or {}).items():
            scope[f"workflow.annotations.{key}"] = value
        params: list[dict[str, Any]] = []
        for param in (self.spec.get("arguments") or {}).get("parameters") or []:
            value = param.get("value")
            if value is None and param.get("valueFrom"):
                value = param["valueFrom"].get("default")
            if value is None:
                value = param.get("default")
            if value is None:
                raise ParamError(f"spec.arguments.parameters.{param['name']}: no value given")
            params.append({"name": param["name"], "value": as_text(value)})
        for param in params:
            scope[f"workflow.parameters.{param['name']}"] = param["value"]
        scope["workflow.parameters"] = json.dumps(params, separators=(",", ":"))
        # Substitute parameters that refer to other globals (e.g. {{workflow.name}}).
        for param in params:
            key = f"workflow.parameters.{param['name']}"
            scope[key] = render(str(scope[key]), scope)
        for param in (self.status.get("outputs") or {}).get("parameters") or []:
            scope[f"workflow.outputs.parameters.{param['name']}"] = param.get("value", "")
        return scope

    def _labels_from(self) -> dict[str, str]:
        metadata = self.spec.get("workflowMetadata") or {}
        labels = dict(metadata.get("labels") or {})
        labels_from = metadata.get("labelsFrom") or {}
        env = nested_env(self.globals) if labels_from else {}
        for key, source in labels_from.items():
            try:
                labels[key] = as_text(evaluate(source["expression"], env))
            except ExprError:
                continue
        return labels

    # == workflow-level controls ============================================================
    def _acquire_workflow_locks(self) -> bool:
        locks = lock_names(self.spec.get("synchronization"), self.namespace)
        if not locks:
            return True
        since = self._created_seconds()
        for lock in locks:
            if not self.env.sync.try_acquire(
                lock, self.owner_key, self.owner_key, self.priority, since
            ):
                self.status["message"] = f"Waiting for {lock.split('/', 1)[1]} lock"
                self.status.setdefault("synchronization", {})["waiting"] = lock
                return False
        sync = self.status.setdefault("synchronization", {})
        sync.pop("waiting", None)
        sync["holding"] = locks
        if self.status.get("message", "").startswith("Waiting for"):
            self.status.pop("message", None)
        return True

    def _created_seconds(self) -> float:
        try:
            return parse_time(self.meta.get("creationTimestamp", "")).timestamp()
        except ValueError:
            return self.now.timestamp()

    def _check_deadline(self) -> None:
        deadline = self.spec.get("activeDeadlineSeconds")
        started = self.status.get("startedAt")
        if deadline is None or not started:
            return
        remaining = float(deadline) - (self.now - parse_time(started)).total_seconds()
        if remaining <= 0:
            if not self.shutdown:
                self.shutdown = "Terminate"
                self.deadline_exceeded = True
        else:
            self.wakeups.append(remaining)

    deadline_exceeded = False

    def _remaining_deadline(self) -> int | None:
        deadline = self.spec.get("activeDeadlineSeconds")
        started = self.status.get("startedAt")
        if deadline is None or not started:
            return None
        return max(1, int(float(deadline) - (self.now - parse_time(started)).total_seconds()))

    # == nodes ==============================================================================
    def get(self, name: str) -> NodeRecord | None:
        return self.nodes.get(node_id(self.name, name))

    def init_node(
        self,
        name: str,
        node_type: str,
        display: str,
        template: str | None,
        boundary: str | None,
        phase: str = RUNNING,
        message: str | None = None,
    ) -> NodeRecord:
        node = new_node(
            self.name, name, node_type, display, template, boundary, phase, self.now_text
        )
        if message:
            node["message"] = message
        self.nodes[node["id"]] = node
        if phase in FULFILLED:
            self.again = True
        return node

    def mark(self, node: NodeRecord, phase: str, message: str | None = None) -> NodeRecord:
        # A finished node another part of the walk may already have looked at needs
        # another pass; a Pod's parent looks after it, and a StepGroup's steps node goes
        # on at once.
        if (
            phase in FULFILLED
            and node["type"] not in ("Pod", "StepGroup")
            and node.get("phase") not in FULFILLED
        ):
            self.again = True
        node["phase"] = phase
        if message:
            node["message"] = message
        if phase in FULFILLED:
            node.setdefault("finishedAt", self.now_text)
        return node

    def add_child(self, parent: NodeRecord, child: NodeRecord) -> None:
        children = parent.setdefault("children", [])
        if len(children) < 16:  # a short list: a scan is cheaper than an index
            if child["id"] not in children:
                children.append(child["id"])
            return
        known = self._child_sets.get(parent["id"])
        if known is None or len(known) != len(children):
            known = self._child_sets[parent["id"]] = set(children)
        if child["id"] not in known:
            known.add(child["id"])
            children.append(child["id"])

    def outbound(self, node: NodeRecord) -> list[str]:
        """The nodes a following step or task hangs under (Argo's outbound nodes)."""
        if node["type"] in ("Pod", "Skipped", "Suspend"):
            return [node["id"]]
        if node["type"] == "Retry":
            children = node.get("children") or []
            return self.outbound(self.nodes[children[-1]]) if children else [node["id"]]
        if node.get("outboundNodes"):
            return list(node["outboundNodes"])
        if node["type"] in ("TaskGroup", "StepGroup") and node.get("children"):
            out: list[str] = []
            for child in node["children"]:
                out.extend(self.outbound(self.nodes[child]))
            return out
        return [node["id"]]

    def error_node(
        self,
        name: str,
        display: str,
        boundary: str | None,
        message: str,
        template: str | None = None,
    ) -> NodeRecord:
        node = self.get(name)
        if node is None:
            node = self.init_node(name, "Skipped", display, template, boundary, ERROR, message)
        return self.mark(node, ERROR, message)

    # == templates ==========================================================================
    def _execute_entry(self) -> NodeRecord | None:
        entry = self.spec.get("entrypoint")
        if not entry:
            self._finish(ERROR, "spec.entrypoint is required")
            return None
        root_args = [
            {"name": k.removeprefix("workflow.parameters."), "value": v}
            for k, v in self.globals.items()
            if k.startswith("workflow.parameters.")
        ]
        assert self.resolver is not None
        return self.execute(
            self.name, {"template": entry}, self.resolver.root, root_args, None, self.name
        )

    def execute(
        self,
        name: str,
        call: dict[str, Any],
        source: TemplateSource,
        args: Params,
        boundary: str | None,
        display: str,
        *,
        attempt: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> NodeRecord | None:
        """Run (or advance) the template ``call`` names at node ``name``.

        Returns the node, or None when it could not start yet (parallelism, suspension,
        shutdown): the caller treats that as still running.
        """
        node = self.get(name)
        if node is not None and fulfilled(node):
            return node
        assert self.resolver is not None
        try:
            template, inner = self.resolver.resolve(call, source)
        except ResolveError as exc:
            return self.error_node(name, display, boundary, str(exc), call.get("template"))
        template_name = template.get("name") or call.get("template") or ""
        if node is not None and node.get("inputs") is not None:
            inputs: Params = node["inputs"].get("parameters") or []
        else:
            try:
                inputs = resolve_inputs(template, args)
            except ParamError as exc:
                return self.error_node(name, display, boundary, str(exc), template_name)
            # Input values may themselves use globals or expressions (processInputs).
            for param in inputs:
                param["value"] = render(str(param["value"]), self.globals)
        scope = {**self.globals, **inputs_scope(inputs), **(extra or {})}
        scope["node.name"] = name
        if "{{" in json.dumps(template):  # most templates have no tags: skip the copy
            template = substitute(template, scope)
        kind = template_kind(template)
        if kind is None or kind not in NODE_TYPE:
            return self.error_node(
                name,
                display,
                boundary,
                f"template {template_name!r}: type {kind} is not supported",
                template_name,
            )
        retry = template.get("retryStrategy")
        if retry is None and kind in POD_TYPES:
            retry = self.spec.get("retryStrategy")
        if retry is not None and attempt is None:
            return self._execute_retry(
                name, call, source, args, boundary, display, template, template_name, inputs, retry
            )
        if node is None:
            memo = self._memo_hit(name, display, boundary, template, template_name, inputs)
            if memo is not None:
                return memo
            if kind in POD_TYPES and not self._may_start_pod():
                return None
            if kind == "suspend" and self.shutdown:
                return None
            node = self.init_node(
                name,
                NODE_TYPE[kind],
                display,
                template_name,
                boundary,
                PENDING if kind in POD_TYPES else RUNNING,
            )
            if inner.key:
                scope_name, _, ref_name = inner.key.partition("/")
                node["templateScope"] = f"{scope_name}/{ref_name}"
                if call.get("templateRef"):
                    node["templateRef"] = dict(call["templateRef"])
            else:
                node["templateScope"] = "local/"
            if inputs:
                node["inputs"] = {"parameters": inputs}
        if not self._acquire_template_locks(node, template):
            return node
        self._check_template_deadline(node, template)
        if not fulfilled(node):
            if kind in POD_TYPES:
                self._execute_pod(node, template, scope)
            elif kind == "steps":
                self._execute_steps(node, template, inner, scope)
            elif kind == "dag":
                self._execute_dag(node, template, inner, scope)
            else:
                self._execute_suspend(node, template, scope)
        if fulfilled(node):
            self._release_template_locks(node, template)
            self._memo_save(node, template)
        return node

    # -- pods ---------------------------------------------------------------------------
    def _may_start_pod(self) -> bool:
        if self.shutdown or self.suspended:
            return False
        if self.parallelism and self.active_pods >= self.parallelism:
            self.again = True
            return False
        return True

    def _execute_pod(
        self, node: NodeRecord, template: dict[str, Any], scope: dict[str, Any]
    ) -> None:
        template_name = node.get("templateName", "")
        name = pod_name(self.name, template_name, node["name"])
        pod = self.env.get_pod(self.namespace, name)
        if pod is None:
            if node.get("podCreated"):
                self.mark(node, ERROR, "pod deleted")
                return
            if self.shutdown or self.suspended:
                if self.shutdown:
                    self.mark(node, FAILED, f"Stopped with strategy '{self.shutdown}'")
                return
            self._create_pod(node, template, scope, name)
            return
        pod_status = pod.get("status") or {}
        phase = pod_status.get("phase", PENDING)
        node_name = (pod.get("spec") or {}).get("nodeName")
        if node_name:
            node["hostNodeName"] = node_name
        if phase == "Running":
            node["phase"] = RUNNING
        elif phase in ("Succeeded", "Failed"):
            self._finish_pod_node(node, template, scope, pod, name)
            self.active_pods -= 1
        if self.shutdown and not fulfilled(node):
            self.env.delete_pod(self.namespace, name)
            self.mark(
                node,
                FAILED,
                "Step exceeded its deadline"
                if self.deadline_exceeded
                else f"Stopped with strategy '{self.shutdown}'",
            )

    def _create_pod(
        self, node: NodeRecord, template: dict[str, Any], scope: dict[str, Any], name: str
    ) -> None:
        try:
            runnable = substitute(
                {k: template[k] for k in ("container", "script") if k in template},
                scope,
                strict=True,
            )
        except UnresolvedError as exc:
            self.mark(node, ERROR, str(exc))
            return
        template = {**template, **runnable}
        files = StepFiles(self.env.files_root, self.meta.get("uid", self.name), name)
        paths = [
            p["valueFrom"]["path"]
            for p in (template.get("outputs") or {}).get("parameters") or []
            if (p.get("valueFrom") or {}).get("path")
        ]
        mounts = files.output_mounts(paths)
        script = (template.get("script") or {}).get("source")
        files.prepare(mounts, script if template.get("script") is not None else None)
        deadline = _seconds(template.get("activeDeadlineSeconds"))
        if template.get("timeout"):
            timeout = _seconds(template["timeout"])
            deadline = timeout if deadline is None else min(deadline, timeout or deadline)
        remaining = self._remaining_deadline()
        if remaining is not None:
            deadline = remaining if deadline is None else min(deadline, remaining)
        request = PodRequest(
            name=name,
            namespace=self.namespace,
            workflow=self.wf,
            node_name=node["name"],
            node_id=node["id"],
            template=template,
            deadline_seconds=int(deadline) if deadline is not None else None,
            priority=template.get("priority"),
            ray=ray_annotations(self.wf, template),
            output_paths=tuple(paths),
        )
        self.env.create_pod(build_pod(request, files, mounts))
        node["podCreated"] = True
        self.active_pods += 1

    def _finish_pod_node(
        self,
        node: NodeRecord,
        template: dict[str, Any],
        scope: dict[str, Any],
        pod: dict[str, Any],
        name: str,
    ) -> None:
        pod_status = pod.get("status") or {}
        files = StepFiles(self.env.files_root, self.meta.get("uid", self.name), name)
        mounts = files.output_mounts(
            [
                p["valueFrom"]["path"]
                for p in (template.get("outputs") or {}).get("parameters") or []
                if (p.get("valueFrom") or {}).get("path")
            ]
        )
        outputs: dict[str, Any] = {}
        code = main_exit_code(pod)
        if code is not None:
            outputs["exitCode"] = str(code)
        result = files.read_stdout()
        if result is not None:
            outputs["result"] = result
        problem = None
        params = []
        local = dict(scope)
        if "result" in outputs:
            local["outputs.result"] = outputs["result"]
        for declared in (template.get("outputs") or {}).get("parameters") or []:
            param = {k: v for k, v in declared.items() if k not in ("value", "valueFrom")}
            value_from = declared.get("valueFrom") or {}
            value: str | None = None
            if "value" in declared:
                value = as_text(declared["value"])
            elif value_from.get("path"):
                value = read_output_file(files.host_path(mounts, value_from["path"]))
            elif value_from.get("expression"):
                try:
                    value = as_text(evaluate(value_from["expression"], nested_env(local)))
                except ExprError:
                    value = None
            if value is None and value_from.get("default") is not None:
                value = as_text(value_from["default"])
            if value is None:
                problem = problem or f"failed to resolve output parameter {declared['name']!r}"
                continue
            param["value"] = value
            params.append(param)
            self._export_global(declared, value)
        if params:
            outputs["parameters"] = params
        if outputs:
            node["outputs"] = outputs
        if pod_status.get("phase") == "Succeeded":
            if problem:
                self.mark(node, ERROR, problem)
            else:
                self.mark(node, SUCCEEDED)
        elif pod_status.get("reason") == "DeadlineExceeded":
            self.mark(node, FAILED, "Pod was active on the node longer than the specified deadline")
        elif code is not None:
            self.mark(node, FAILED, f"Error (exit code {code})")
        else:
            self.mark(
                node, ERROR, pod_status.get("message") or pod_status.get("reason") or "pod failed"
            )

    def _export_global(self, declared: dict[str, Any], value: str) -> None:
        global_name = declared.get("globalName")
        if not global_name:
            return
        outputs = self.status.setdefault("outputs", {}).setdefault("parameters", [])
        for param in outputs:
            if param["name"] == global_name:
                param["value"] = value
                break
        else:
            outputs.append({"name": global_name, "value": value})
        self.globals[f"workflow.outputs.parameters.{global_name}"] = value

    # -- suspend ------------------------------------------------------------------------
    def _execute_suspend(
        self, node: NodeRecord, template: dict[str, Any], scope: dict[str, Any]
    ) -> None:
        duration = (template.get("suspend") or {}).get("duration")
        if duration is not None:
            seconds = parse_go_duration(str(duration))
            elapsed = (self.now - parse_time(node["startedAt"])).total_seconds()
            if elapsed >= seconds:
                self._suspend_outputs(node, template)
                self.mark(node, SUCCEEDED)
                return
            self.wakeups.append(seconds - elapsed)
        if self.shutdown:
            self.mark(node, FAILED, f"Stopped with strategy '{self.shutdown}'")

    def _suspend_outputs(self, node: NodeRecord, template: dict[str, Any]) -> None:
        params = []
        supplied = {
            p["name"]: p.get("value") for p in (node.get("outputs") or {}).get("parameters") or []
        }
        for declared in (template.get("outputs") or {}).get("parameters") or []:
            value = supplied.get(declared["name"])
            if value is None:
                value_from = declared.get("valueFrom") or {}
                default = value_from.get("default", declared.get("value"))
                if default is None:
                    continue
                value = as_text(default)
            params.append({"name": declared["name"], "value": value})
            self._export_global(declared, value)
        if params:
            node["outputs"] = {"parameters": params}

    # -- retries ------------------------------------------------------------------------
    def _execute_retry(
        self,
        name: str,
        call: dict[str, Any],
        source: TemplateSource,
        args: Params,
        boundary: str | None,
        display: str,
        template: dict[str, Any],
        template_name: str,
        inputs: Params,
        retry: dict[str, Any],
    ) -> NodeRecord | None:
        node = self.get(name)
        if node is None:
            if template_kind(template) in POD_TYPES and not self._may_start_pod():
                return None
            node = self.init_node(name, "Retry", display, template_name, boundary)
            if inputs:
                node["inputs"] = {"parameters": inputs}
        children = [self.nodes[c] for c in node.get("children") or []]
        while True:
            if children and not fulfilled(children[-1]):
                child = self._retry_child(node, len(children) - 1, call, source, args, boundary)
                if child is None or not fulfilled(child):
                    return node
                continue
            if children:
                last = children[-1]
                if last["phase"] == SUCCEEDED:
                    if last.get("outputs"):
                        node["outputs"] = last["outputs"]
                    return self.mark(node, SUCCEEDED)
                decision = decide_retry(retry, children, self.now, self.globals, nested_env)
                if decision.give_up:
                    if last.get("outputs"):
                        node["outputs"] = last["outputs"]
                    return self.mark(node, last["phase"], decision.message or last.get("message"))
                if decision.wait_seconds > 0:
                    self.wakeups.append(decision.wait_seconds)
                    node["message"] = f"Backoff for {decision.wait_seconds:.0f} seconds"
                    return node
                node.pop("message", None)
            if self.shutdown:
                return self.mark(node, FAILED, f"Stopped with strategy '{self.shutdown}'")
            child = self._retry_child(node, len(children), call, source, args, boundary)
            if child is None:
                return node
            children.append(child)
            if not fulfilled(child):
                return node

    def _retry_child(
        self,
        node: NodeRecord,
        index: int,
        call: dict[str, Any],
        source: TemplateSource,
        args: Params,
        boundary: str | None,
    ) -> NodeRecord | None:
        child_name = f"{node['name']}({index})"
        child = self.execute(
            child_name,
            call,
            source,
            args,
            boundary,
            f"{node['displayName']}({index})",
            attempt=index,
            extra={"retries": str(index)},
        )
        if child is not None:
            self.add_child(node, child)
        return child

    # -- steps --------------------------------------------------------------------------
    def _execute_steps(
        self,
        node: NodeRecord,
        template: dict[str, Any],
        source: TemplateSource,
        scope: dict[str, Any],
    ) -> None:
        scope = dict(scope)
        previous: NodeRecord | None = None
        groups = template.get("steps") or []
        # Later steps, hooks and the template's outputs are the only readers of earlier
        # steps' results: without tags, expressions or outputs, skip collecting them.
        text = json.dumps(template)
        needs_scope = "{{" in text or "expression" in text or bool(template.get("outputs"))
        for index, group in enumerate(groups):
            sg_name = f"{node['name']}[{index}]"
            sg = self.get(sg_name)
            if sg is None:
                sg = self.init_node(sg_name, "StepGroup", f"[{index}]", None, node["id"])
                if previous is None:
                    self.add_child(node, sg)
                elif not previous.get("children"):
                    self.add_child(previous, sg)
                else:
                    for child_id in previous["children"]:
                        for out in self.outbound(self.nodes[child_id]):
                            self.add_child(self.nodes[out], sg)
            self._execute_step_group(sg, group, source, scope, node, template)
            if not fulfilled(sg):
                return
            if needs_scope:
                scope.update(self._steps_scope(sg, group))
            if sg["phase"] in FAILED_OR_ERROR:
                self._set_outbound(node, sg)
                self.mark(node, sg["phase"], sg.get("message"))
                return
            previous = sg
        if previous is not None:
            self._set_outbound(node, previous)
        self._complete_with_outputs(node, template, scope)

    def _set_outbound(self, node: NodeRecord, last_group: NodeRecord) -> None:
        out: list[str] = []
        for child_id in last_group.get("children") or []:
            out.extend(self.outbound(self.nodes[child_id]))
        if out:
            node["outboundNodes"] = out

    def _steps_scope(self, sg: NodeRecord, group: list[dict[str, Any]]) -> dict[str, Any]:
        scope: dict[str, Any] = {}
        for step in group:
            step_name = step.get("name", "")
            prefix = f"steps.{step_name}"
            base = f"{sg['name']}.{step_name}"
            if _has_loop(step):
                children = [
                    self.nodes[c]
                    for c in sg.get("children") or []
                    if c in self.nodes and _loop_index(self.nodes[c]["name"], base) is not None
                ]
                children.sort(key=lambda n: _loop_index(n["name"], base) or 0)
                scope.update(aggregate_scope(prefix, children))
            else:
                child = self.get(base)
                if child is not None:
                    scope.update(node_scope(prefix, child))
        return scope

    def _execute_step_group(
        self,
        sg: NodeRecord,
        group: list[dict[str, Any]],
        source: TemplateSource,
        scope: dict[str, Any],
        steps_node: NodeRecord,
        template: dict[str, Any],
    ) -> None:
        if fulfilled(sg):
            return
        parallelism = template.get("parallelism")
        running = 0
        done = True
        pairs: list[tuple[dict[str, Any], NodeRecord]] = []
        for step in group:
            step_name = step.get("name", "")
            try:
                items = expand_items(step, scope)
            except (ParamError, UnresolvedError) as exc:
                child = self.error_node(
                    f"{sg['name']}.{step_name}", step_name, steps_node["id"], str(exc)
                )
                self.add_child(sg, child)
                pairs.append((step, child))
                continue
            if items is not None and not items:
                child = self.get(f"{sg['name']}.{step_name}") or self.init_node(
                    f"{sg['name']}.{step_name}",
                    "Skipped",
                    step_name,
                    step.get("template"),
                    steps_node["id"],
                    SKIPPED,
                    "Skipped, empty params",
                )
                self.add_child(sg, child)
                pairs.append((step, child))
                continue
            entries = (
                [(step_name, None)]
                if items is None
                else [(f"{step_name}{item_display(i, item)}", item) for i, item in enumerate(items)]
            )
            for display, item in entries:
                local = {**scope, **(item_scope(item) if items is not None else {})}
                child_name = f"{sg['name']}.{display}"
                existing = self.get(child_name)
                if existing is None or not fulfilled(existing):
                    if parallelism and running >= parallelism and existing is None:
                        self.again = True
                        done = False
                        continue
                    started = self._run_invocation(
                        child_name, display, step, source, local, steps_node["id"], existing
                    )
                    if started is None:
                        done = False
                        continue
                    self.add_child(sg, started)
                    existing = started
                child = existing
                if not self._hooks_done(
                    step, child, local, f"steps.{step_name}", steps_node["id"], source
                ):
                    done = False
                if not fulfilled(child):
                    running += 1
                    done = False
                pairs.append((step, child))
        if not done:
            return
        for step, child in pairs:
            if child["phase"] in FAILED_OR_ERROR and not _continues(step, child["phase"]):
                self.mark(sg, FAILED, f"child '{child['id']}' failed")
                return
        self.mark(sg, SUCCEEDED)

    def _run_invocation(
        self,
        name: str,
        display: str,
        invocation: dict[str, Any],
        source: TemplateSource,
        local: dict[str, Any],
        boundary: str,
        existing: NodeRecord | None,
    ) -> NodeRecord | None:
        """A step or task (one loop item): evaluate ``when``, then run the template."""
        if existing is None and invocation.get("when"):
            try:
                condition = render(str(invocation["when"]), local, strict=True)
                proceed = evaluate_when(condition)
            except (UnresolvedError, ExprError) as exc:
                return self.error_node(
                    name, display, boundary, str(exc), invocation.get("template")
                )
            if not proceed:
                node = self.init_node(
                    name,
                    "Skipped",
                    display,
                    invocation.get("template"),
                    boundary,
                    SKIPPED,
                    f"when '{condition}' evaluated false",
                )
                self._default_outputs(node, invocation, source)
                return node
        args = substitute(list((invocation.get("arguments") or {}).get("parameters") or []), local)
        return self.execute(name, invocation, source, args, boundary, display)

    def _default_outputs(
        self, node: NodeRecord, invocation: dict[str, Any], source: TemplateSource
    ) -> None:
        """A skipped or omitted node still exposes its outputs' ``valueFrom.default``."""
        assert self.resolver is not None
        try:
            template, _ = self.resolver.resolve(invocation, source)
        except ResolveError:
            return
        params = []
        for declared in (template.get("outputs") or {}).get("parameters") or []:
            default = (declared.get("valueFrom") or {}).get("default")
            if default is not None:
                params.append({"name": declared["name"], "value": as_text(default)})
        if params:
            node["outputs"] = {"parameters": params}

    def _hooks_done(
        self,
        invocation: dict[str, Any],
        node: NodeRecord,
        local: dict[str, Any],
        prefix: str,
        boundary: str,
        source: TemplateSource,
    ) -> bool:
        """Run a step's/task's lifecycle hooks; True when none is still running."""
        hooks = dict(invocation.get("hooks") or {})
        if invocation.get("onExit"):
            hooks.setdefault("exit", {"template": invocation["onExit"]})
        if not hooks:
            return True
        scope = {**local, **node_scope(prefix, node)}
        done = True
        for hook_name, hook in hooks.items():
            if hook_name == "exit":
                if node["phase"] not in COMPLETED:
                    done = done and not fulfilled(node)
                    continue
                hook_node_name = f"{node['name']}.onExit"
            else:
                hook_node_name = f"{node['name']}.hooks.{hook_name}"
                if self.get(hook_node_name) is None:
                    try:
                        ready = (
                            hook.get("expression")
                            and evaluate(hook["expression"], nested_env(scope)) is True
                        )
                    except ExprError:
                        ready = False
                    if not ready:
                        continue
            args = substitute(list((hook.get("arguments") or {}).get("parameters") or []), scope)
            hook_node = self.execute(
                hook_node_name,
                hook,
                source,
                args,
                boundary,
                hook_node_name.rsplit(".", 1)[-1]
                if hook_name != "exit"
                else f"{node['displayName']}.onExit",
            )
            if hook_node is None:
                done = False
                continue
            self.add_child(node, hook_node)
            if not fulfilled(hook_node):
                done = False
        return done

    def _complete_with_outputs(
        self, node: NodeRecord, template: dict[str, Any], scope: dict[str, Any]
    ) -> None:
        params = []
        for declared in (template.get("outputs") or {}).get("parameters") or []:
            value_from = declared.get("valueFrom") or {}
            value: str | None = None
            try:
                if value_from.get("parameter"):
                    value = render(str(value_from["parameter"]), scope, strict=True)
                elif value_from.get("expression"):
                    result = evaluate(str(value_from["expression"]), nested_env(scope))
                    value = None if result is None else as_text(result)
                elif "value" in declared:
                    value = render(as_text(declared["value"]), scope, strict=True)
            except (UnresolvedError, ExprError):
                value = None
            if value is None and value_from.get("default") is not None:
                value = as_text(value_from["default"])
            if value is None:
                self.mark(node, ERROR, f"unable to resolve outputs from scope: {declared['name']}")
                return
            param = {k: v for k, v in declared.items() if k not in ("value", "valueFrom")}
            param["value"] = value
            params.append(param)
            self._export_global(declared, value)
        if params:
            node["outputs"] = {"parameters": params}
        self.mark(node, SUCCEEDED)

    # -- DAG ----------------------------------------------------------------------------
    def _execute_dag(
        self,
        node: NodeRecord,
        template: dict[str, Any],
        source: TemplateSource,
        scope: dict[str, Any],
    ) -> None:
        dag = template.get("dag") or {}
        tasks = {t["name"]: t for t in dag.get("tasks") or []}
        logic: dict[str, Any] = {}
        try:
            for task_name, task in tasks.items():
                if task.get("depends"):
                    logic[task_name] = parse_depends(str(task["depends"]))
                elif task.get("dependencies"):
                    text = from_dependencies(
                        task["dependencies"],
                        lambda dep: _continue_flags(tasks.get(dep, {})),
                    )
                    logic[task_name] = parse_depends(text)
        except DependsError as exc:
            self.mark(node, ERROR, str(exc))
            return
        deps = {name: referenced_tasks(logic[name]) if name in logic else [] for name in tasks}
        for name, names in deps.items():
            missing = [d for d in names if d not in tasks]
            if missing:
                self.mark(node, ERROR, f"task {name!r} depends on unknown task {missing[0]!r}")
                return
        target = dag.get("target")
        if target:
            targets = [t for t in str(render(str(target), scope)).replace(",", " ").split() if t]
            unknown = [t for t in targets if t not in tasks]
            if unknown:
                self.mark(node, ERROR, f"target {unknown[0]!r} is not a task of this DAG")
                return
        else:
            depended = {d for names in deps.values() for d in names}
            targets = sorted(name for name in tasks if name not in depended)
        ctx = _DagContext(node, tasks, logic, deps, source, scope, template.get("parallelism"))
        for task_name in targets:
            self._execute_dag_task(ctx, task_name, set())
        phase = self._assess_dag(ctx, targets, dag.get("failFast") is not False)
        if phase == RUNNING:
            return
        out: list[str] = []
        for task_name in targets:
            task_node = ctx.task_node(self, task_name)
            if task_node is not None:
                out.extend(self.outbound(task_node))
        if out:
            node["outboundNodes"] = out
        if phase in FAILED_OR_ERROR:
            failed = [
                n
                for n in (ctx.task_node(self, t) for t in tasks)
                if n is not None and n["phase"] in FAILED_OR_ERROR
            ]
            message = f"child '{failed[0]['id']}' failed" if failed else None
            self.mark(node, phase, message)
            return
        full = dict(scope)
        for task_name in tasks:
            full.update(self._task_scope(ctx, task_name))
        self._complete_with_outputs(node, template, full)

    def _task_scope(self, ctx: _DagContext, task_name: str) -> dict[str, Any]:
        task_node = ctx.task_node(self, task_name)
        if task_node is None:
            return {}
        prefix = f"tasks.{task_name}"
        if task_node["type"] == "TaskGroup":
            children = [self.nodes[c] for c in task_node.get("children") or [] if c in self.nodes]
            scope = aggregate_scope(prefix, children)
            scope[f"{prefix}.status"] = task_node["phase"]
            scope[f"{prefix}.id"] = task_node["id"]
            return scope
        return node_scope(prefix, task_node)

    def _execute_dag_task(self, ctx: _DagContext, task_name: str, visiting: set[str]) -> None:
        if task_name in visiting:
            return
        visiting.add(task_name)
        task = ctx.tasks[task_name]
        node_name = f"{ctx.node['name']}.{task_name}"
        existing = self.get(node_name)
        if existing is not None and fulfilled(existing):
            if existing["phase"] in COMPLETED and existing["type"] not in ("TaskGroup",):
                local = self._dag_local_scope(ctx, task_name)
                self._hooks_done(
                    task, existing, local, f"tasks.{task_name}", ctx.node["id"], ctx.source
                )
            return
        for dep in ctx.deps[task_name]:
            self._execute_dag_task(ctx, dep, visiting)
        group = existing if existing is not None and existing["type"] == "TaskGroup" else None
        if existing is None:
            dep_nodes = [ctx.task_node(self, d) for d in ctx.deps[task_name]]
            if any(
                d is None or not fulfilled(d) or not self._task_hooks_done(ctx, n, d)
                for n, d in zip(ctx.deps[task_name], dep_nodes, strict=True)
            ):
                return
            if task_name in ctx.logic:
                execute = evaluate_depends(
                    ctx.logic[task_name], lambda t, r: self._task_result(ctx, t, r)
                )
                if not execute:
                    omitted = self.init_node(
                        node_name,
                        "Skipped",
                        task_name,
                        task.get("template"),
                        ctx.node["id"],
                        OMITTED,
                        "omitted: depends condition not met",
                    )
                    self._default_outputs(omitted, task, ctx.source)
                    self._connect(ctx, task_name, omitted)
                    return
        local = self._dag_local_scope(ctx, task_name)
        if _has_loop(task):
            try:
                items = expand_items(task, local)
            except (ParamError, UnresolvedError) as exc:
                error = self.error_node(
                    node_name, task_name, ctx.node["id"], str(exc), task.get("template")
                )
                self._connect(ctx, task_name, error)
                return
            assert items is not None
            if not items:
                skipped = self.init_node(
                    node_name,
                    "Skipped",
                    task_name,
                    task.get("template"),
                    ctx.node["id"],
                    SKIPPED,
                    "Skipped, empty params",
                )
                self._connect(ctx, task_name, skipped)
                return
            if group is None:
                group = self.init_node(
                    node_name, "TaskGroup", task_name, task.get("template"), ctx.node["id"]
                )
                self._connect(ctx, task_name, group)
            parallelism = ctx.parallelism()
            running = sum(
                1 for c in group.get("children") or [] if not fulfilled(self.nodes.get(c))
            )
            all_done = True
            phase = SUCCEEDED
            for index, item in enumerate(items):
                display = f"{task_name}{item_display(index, item)}"
                child_name = f"{ctx.node['name']}.{display}"
                child = self.get(child_name)
                if child is None and parallelism and running >= parallelism:
                    self.again = True
                    all_done = False
                    continue
                if child is None or not fulfilled(child):
                    child = self._run_invocation(
                        child_name,
                        display,
                        task,
                        ctx.source,
                        {**local, **item_scope(item)},
                        ctx.node["id"],
                        child,
                    )
                    if child is None:
                        all_done = False
                        continue
                    self.add_child(group, child)
                    if not fulfilled(child):
                        running += 1
                if not self._hooks_done(
                    task,
                    child,
                    {**local, **item_scope(item)},
                    f"tasks.{task_name}",
                    ctx.node["id"],
                    ctx.source,
                ):
                    all_done = False
                if not fulfilled(child):
                    all_done = False
                elif child["phase"] in FAILED_OR_ERROR:
                    phase = child["phase"]
            if all_done:
                self.mark(group, phase)
            return
        if existing is None and ctx.parallelism() and ctx.running(self) >= (ctx.parallelism() or 0):
            self.again = True
            return
        child = self._run_invocation(
            node_name, task_name, task, ctx.source, local, ctx.node["id"], existing
        )
        if child is None:
            return
        if existing is None:
            self._connect(ctx, task_name, child)
        self._hooks_done(task, child, local, f"tasks.{task_name}", ctx.node["id"], ctx.source)

    def _task_hooks_done(self, ctx: _DagContext, task_name: str, node: NodeRecord) -> bool:
        task = ctx.tasks[task_name]
        if not task.get("hooks") and not task.get("onExit"):
            return True
        hook = self.get(f"{node['name']}.onExit")
        if (task.get("hooks") or {}).get("exit") or task.get("onExit"):
            return hook is not None and fulfilled(hook)
        return True

    def _dag_local_scope(self, ctx: _DagContext, task_name: str) -> dict[str, Any]:
        local = dict(ctx.scope)
        for ancestor in ctx.ancestors(task_name):
            local.update(self._task_scope(ctx, ancestor))
        return local

    def _connect(self, ctx: _DagContext, task_name: str, node: NodeRecord) -> None:
        deps = ctx.deps[task_name]
        if not deps:
            self.add_child(ctx.node, node)
            return
        for dep in deps:
            dep_node = ctx.task_node(self, dep)
            if dep_node is None:
                continue
            for out in self.outbound(dep_node):
                self.add_child(self.nodes[out], node)

    def _task_result(self, ctx: _DagContext, task_name: str, result: str) -> bool:
        node = ctx.task_node(self, task_name)
        if node is None:
            return False
        phase = node["phase"]
        if result == "Succeeded":
            return bool(phase == SUCCEEDED)
        if result == "Failed":
            return bool(phase == FAILED)
        if result == "Errored":
            return bool(phase == ERROR)
        if result == "Skipped":
            return bool(phase == SKIPPED)
        if result == "Omitted":
            return bool(phase == OMITTED)
        if result == "Daemoned":
            return False
        children = [self.nodes[c]["phase"] for c in node.get("children") or [] if c in self.nodes]
        if result == "AnySucceeded":
            return node["type"] == "TaskGroup" and SUCCEEDED in children
        if result == "AllFailed":
            return (
                node["type"] == "TaskGroup"
                and bool(children)
                and all(p == FAILED for p in children)
            )
        return False

    def _assess_dag(self, ctx: _DagContext, targets: list[str], fail_fast: bool) -> str:
        if self.shutdown:
            running = [
                c for c in ctx.node.get("children") or [] if not fulfilled(self.nodes.get(c))
            ]
            if not running:
                return FAILED
        target_ids = {node_id(self.name, f"{ctx.node['name']}.{t}"): "" for t in targets}
        queue: list[tuple[str, str]] = [(c, SUCCEEDED) for c in ctx.node.get("children") or []]
        seen: set[tuple[str, str]] = set()
        while queue:
            current, branch = queue.pop(0)
            if (current, branch) in seen:
                continue
            seen.add((current, branch))
            node = self.nodes.get(current)
            if node is None or not fulfilled(node):
                return RUNNING
            if node["phase"] in COMPLETED:
                branch = node["phase"]
            if current in target_ids and target_ids[current] not in FAILED_OR_ERROR:
                target_ids[current] = branch
            queue.extend((c, branch) for c in node.get("children") or [])
        result = SUCCEEDED
        for task_name in targets:
            branch = target_ids[node_id(self.name, f"{ctx.node['name']}.{task_name}")]
            if branch == "":
                result = RUNNING
                if not fail_fast:
                    break
            elif branch in FAILED_OR_ERROR:
                if _continues(ctx.tasks[task_name], branch):
                    continue
                result = branch
                if fail_fast:
                    break
        return result

    # -- deadlines, locks, memoization ---------------------------------------------------
    def _check_template_deadline(self, node: NodeRecord, template: dict[str, Any]) -> None:
        if node["type"] in ("Pod", "Retry") or fulfilled(node):
            return
        limit = _seconds(template.get("activeDeadlineSeconds"))
        timeout = _seconds(template.get("timeout"))
        if timeout is not None:
            limit = timeout if limit is None else min(limit, timeout)
        if limit is None:
            return
        elapsed = (self.now - parse_time(node["startedAt"])).total_seconds()
        if elapsed >= limit:
            self._fail_descendants(node, "Step exceeded its deadline")
            self.mark(node, FAILED, f"Step exceeded its deadline of {limit:g}s")
        else:
            self.wakeups.append(limit - elapsed)

    def _fail_descendants(self, node: NodeRecord, message: str) -> None:
        for child_id in node.get("children") or []:
            child = self.nodes.get(child_id)
            if child is None or fulfilled(child):
                continue
            if child["type"] == "Pod":
                self.env.delete_pod(
                    self.namespace,
                    pod_name(self.name, child.get("templateName", ""), child["name"]),
                )
            self._fail_descendants(child, message)
            self.mark(child, FAILED, message)

    def _acquire_template_locks(self, node: NodeRecord, template: dict[str, Any]) -> bool:
        locks = lock_names(template.get("synchronization"), self.namespace)
        if not locks or fulfilled(node):
            return True
        since = parse_time(node["startedAt"]).timestamp()
        for lock in locks:
            holder = f"{self.owner_key}/{node['id']}"
            if not self.env.sync.try_acquire(lock, holder, self.owner_key, self.priority, since):
                node["phase"] = PENDING
                node["message"] = f"Waiting for {lock.split('/', 1)[1]} lock"
                node["synchronizationStatus"] = {"waiting": lock}
                return False
        if node.get("synchronizationStatus"):
            node.pop("synchronizationStatus", None)
            node.pop("message", None)
            if node["type"] != "Pod":
                node["phase"] = RUNNING
        return True

    def _release_template_locks(self, node: NodeRecord, template: dict[str, Any]) -> None:
        for lock in lock_names(template.get("synchronization"), self.namespace):
            self.env.sync.release(lock, f"{self.owner_key}/{node['id']}")

    def _memo_hit(
        self,
        name: str,
        display: str,
        boundary: str | None,
        template: dict[str, Any],
        template_name: str,
        inputs: Params,
    ) -> NodeRecord | None:
        memoize = template.get("memoize")
        if not memoize:
            return None
        key = render(str(memoize.get("key", "")), {**self.globals, **inputs_scope(inputs)})
        cache = str((memoize.get("cache") or {}).get("configMap", {}).get("name", "default"))
        max_age = parse_go_duration(memoize["maxAge"]) if memoize.get("maxAge") else None
        entry = self.env.memo.get(cache, key, max_age, self.now.timestamp())
        if entry is None:
            return None
        kind = template_kind(template) or "container"
        node = self.init_node(
            name, NODE_TYPE.get(kind, "Pod"), display, template_name, boundary, SUCCEEDED
        )
        node["outputs"] = entry.get("outputs") or {}
        node["memoizationStatus"] = {"hit": True, "key": key, "cacheName": cache}
        for param in node["outputs"].get("parameters") or []:
            for declared in (template.get("outputs") or {}).get("parameters") or []:
                if declared["name"] == param["name"]:
                    self._export_global(declared, param.get("value", ""))
        return node

    def _memo_save(self, node: NodeRecord, template: dict[str, Any]) -> None:
        memoize = template.get("memoize")
        if (
            not memoize
            or node["phase"] != SUCCEEDED
            or (node.get("memoizationStatus") or {}).get("hit")
        ):
            return
        inputs = (node.get("inputs") or {}).get("parameters") or []
        key = render(str(memoize.get("key", "")), {**self.globals, **inputs_scope(inputs)})
        cache = str((memoize.get("cache") or {}).get("configMap", {}).get("name", "default"))
        if node.get("memoizationStatus"):
            return
        self.env.memo.put(cache, key, node["id"], node.get("outputs") or {}, self.now.timestamp())
        node["memoizationStatus"] = {"hit": False, "key": key, "cacheName": cache}

    # == completion ===========================================================================
    def _run_workflow_exit(self, root: NodeRecord) -> NodeRecord | None:
        on_exit = self.spec.get("onExit") or ((self.spec.get("hooks") or {}).get("exit") or {}).get(
            "template"
        )
        exit_hook = (self.spec.get("hooks") or {}).get("exit")
        if not on_exit and not exit_hook:
            return None
        if self.shutdown == "Terminate":
            return None
        call: dict[str, Any] = dict(exit_hook) if exit_hook else {"template": on_exit}
        call.pop("expression", None)
        failures = [
            {
                "displayName": n["displayName"],
                "message": n.get("message", ""),
                "templateName": n.get("templateName", ""),
                "phase": n["phase"],
                "podName": pod_name(self.name, n.get("templateName", ""), n["name"]),
                "finishedAt": n.get("finishedAt", ""),
            }
            for n in self.nodes.values()
            if n["type"] == "Pod" and n["phase"] in FAILED_OR_ERROR
        ]
        status = root["phase"] if root["phase"] != SKIPPED else SUCCEEDED
        self.globals["workflow.status"] = status
        self.globals["workflow.failures"] = json.dumps(failures, separators=(",", ":"))
        args = substitute(list((call.get("arguments") or {}).get("parameters") or []), self.globals)
        assert self.resolver is not None
        saved_shutdown, self.shutdown = (
            self.shutdown,
            "" if self.shutdown == "Stop" else self.shutdown,
        )
        saved_deadline = self.deadline_exceeded
        if self.deadline_exceeded:
            self.shutdown = ""
        try:
            node = self.execute(
                f"{self.name}.onExit", call, self.resolver.root, args, None, f"{self.name}.onExit"
            )
        finally:
            self.shutdown = saved_shutdown
            self.deadline_exceeded = saved_deadline
        return node

    def _complete(self, root: NodeRecord, exit_node: NodeRecord | None) -> None:
        phase = root["phase"]
        message = root.get("message")
        if self.deadline_exceeded:
            self._finish(FAILED, "Step exceeded its deadline")
            return
        if self.shutdown and phase in FAILED_OR_ERROR:
            message = f"Stopped with strategy '{self.shutdown}'"
        if phase in (SUCCEEDED, SKIPPED):
            if exit_node is not None and exit_node["phase"] in FAILED_OR_ERROR:
                self._finish(exit_node["phase"], exit_node.get("message"))
            else:
                self._finish(SUCCEEDED, None)
        else:
            self._finish(phase if phase in FAILED_OR_ERROR else FAILED, message)

    def _finish(self, phase: str, message: str | None) -> None:
        self.status["phase"] = phase
        self.status.setdefault("startedAt", self.now_text)
        self.status["finishedAt"] = self.now_text
        if message:
            self.status["message"] = message
        else:
            self.status.pop("message", None)
        self.status["conditions"] = [
            {"type": "Completed", "status": "True"},
            {"type": "PodRunning", "status": "False"},
        ]

    def _run_workflow_hooks(self) -> None:
        hooks = {k: v for k, v in (self.spec.get("hooks") or {}).items() if k != "exit"}
        if not hooks or self.resolver is None:
            return
        scope = {**self.globals, "workflow.status": self.status.get("phase", RUNNING)}
        for hook_name, hook in hooks.items():
            name = f"{self.name}.hooks.{hook_name}"
            if self.get(name) is None:
                try:
                    ready = (
                        evaluate(str(hook.get("expression", "false")), nested_env(scope)) is True
                    )
                except ExprError:
                    ready = False
                if not ready:
                    continue
            args = substitute(list((hook.get("arguments") or {}).get("parameters") or []), scope)
            self.execute(name, hook, self.resolver.root, args, None, name)

    def _update_progress(self) -> None:
        pods = [n for n in self.nodes.values() if n["type"] == "Pod"]
        done = sum(1 for n in pods if n["phase"] in FULFILLED)
        self.status["progress"] = f"{done}/{len(pods)}"


@dataclass
class _DagContext:
    node: NodeRecord
    tasks: dict[str, dict[str, Any]]
    logic: dict[str, Any]
    deps: dict[str, list[str]]
    source: TemplateSource
    scope: dict[str, Any]
    template_parallelism: int | None = None

    def task_node(self, op: WorkflowOperator, task_name: str) -> NodeRecord | None:
        return op.get(f"{self.node['name']}.{task_name}")

    def ancestors(self, task_name: str) -> list[str]:
        seen: list[str] = []
        stack = list(self.deps.get(task_name, []))
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.append(current)
            stack.extend(self.deps.get(current, []))
        return seen

    def parallelism(self) -> int | None:
        return self.template_parallelism

    def running(self, op: WorkflowOperator) -> int:
        return sum(
            1
            for name in self.tasks
            if (n := self.task_node(op, name)) is not None and not fulfilled(n)
        )


@functools.lru_cache(maxsize=4096)
def _creation_scope_items(created: str) -> tuple[tuple[str, str], ...]:
    try:
        moment = parse_time(created)
    except ValueError:
        return ()
    items = [
        (f"workflow.creationTimestamp.{letter}", moment.strftime(f"%{letter}"))
        for letter in "aAbBcdHIjmMpSUwWxXyYZ"
    ]
    items.append(("workflow.creationTimestamp.RFC3339", created))
    items.append(("workflow.creationTimestamp.s", str(int(moment.timestamp()))))
    return tuple(items)


def _creation_scope(created: str) -> dict[str, str]:
    """The ``workflow.creationTimestamp.*`` globals (strftime letters, RFC3339, epoch)."""
    return dict(_creation_scope_items(created))


def _has_loop(invocation: dict[str, Any]) -> bool:
    return any(invocation.get(k) is not None for k in ("withItems", "withParam", "withSequence"))


def _loop_index(name: str, base: str) -> int | None:
    rest = name[len(base) :]
    if not rest.startswith("(") or ":" not in rest:
        return None
    head = rest[1:].split(":", 1)[0]
    return int(head) if head.isdigit() else None


def _continues(invocation: dict[str, Any], phase: str) -> bool:
    continue_on = invocation.get("continueOn") or {}
    return bool(
        (phase == FAILED and continue_on.get("failed"))
        or (phase == ERROR and continue_on.get("error"))
    )


def _continue_flags(task: dict[str, Any]) -> tuple[bool, bool]:
    continue_on = task.get("continueOn") or {}
    return bool(continue_on.get("failed")), bool(continue_on.get("error"))


def _seconds(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return parse_go_duration(str(value))
    except ExprError:
        return None
