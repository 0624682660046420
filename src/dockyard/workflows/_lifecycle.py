"""Lifecycle verbs on a Workflow: stop, terminate, suspend, resume, retry, resubmit, and
creating a Workflow from a (Cluster)WorkflowTemplate or CronWorkflow (``submit``).

Workflows layer. Each verb is one read-modify-write of the stored object; the controller
does the rest on its next pass (``spec.shutdown`` stops Pods, a resumed Suspend node
completes, a retried workflow re-runs its failed branches).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from typing import Any

from dockyard.api.errors import ApiError, BadRequestError, FieldCause, InvalidError, NotFoundError
from dockyard.store import ObjectStore
from dockyard.workflows._compressed import deflate_in_place, inflate, inflate_in_place
from dockyard.workflows._kinds import (
    CLUSTER_WORKFLOW_TEMPLATE,
    CRON_WORKFLOW,
    GROUP_VERSION,
    WORKFLOW,
    WORKFLOW_TEMPLATE,
)
from dockyard.workflows._nodes import FAILED_OR_ERROR, pod_name

Obj = dict[str, Any]


def _require(store: ObjectStore, namespace: str, name: str) -> Obj:
    return inflate(store.get(WORKFLOW, namespace, name))


def _mutate(store: ObjectStore, namespace: str, name: str, change: Callable[[Obj], None]) -> Obj:
    """``store.mutate`` of a workflow whose ``change`` sees ordinary ``status.nodes``
    (stored compressed again when large); returns the workflow inflated."""

    def edit(obj: Obj) -> None:
        inflate_in_place(obj)
        change(obj)
        deflate_in_place(obj)

    return inflate(store.mutate(WORKFLOW, namespace, name, edit))


def set_shutdown(store: ObjectStore, namespace: str, name: str, strategy: str) -> Obj:
    workflow = _require(store, namespace, name)
    if (workflow.get("status") or {}).get("finishedAt"):
        raise BadRequestError(f"cannot {strategy.lower()} completed workflow {name!r}")

    def change(obj: Obj) -> None:
        obj["spec"]["shutdown"] = strategy

    return _mutate(store, namespace, name, change)


def set_suspend(store: ObjectStore, namespace: str, name: str, suspend: bool) -> Obj:
    _require(store, namespace, name)

    def change(obj: Obj) -> None:
        if suspend:
            obj["spec"]["suspend"] = True
        else:
            obj["spec"].pop("suspend", None)

    return _mutate(store, namespace, name, change)


def resume_workflow(store: ObjectStore, namespace: str, name: str, selector: str | None) -> Obj:
    """Clear ``spec.suspend`` and complete waiting Suspend nodes (those matching
    ``nodeFieldSelector`` such as ``displayName=approve``, or all)."""
    _require(store, namespace, name)
    wanted: dict[str, str] = {}
    for part in (selector or "").split(","):
        key, sep, value = part.partition("=")
        if sep:
            wanted[key.strip()] = value.strip()

    def change(obj: Obj) -> None:
        obj["spec"].pop("suspend", None)
        for node in ((obj.get("status") or {}).get("nodes") or {}).values():
            if node.get("type") != "Suspend" or node.get("phase") not in ("Running", "Pending"):
                continue
            if any(
                str(node.get(k.replace("inputs.parameters.", ""), "")) != v
                for k, v in wanted.items()
                if not k.startswith("inputs.")
            ):
                continue
            node["phase"] = "Succeeded"
            node["message"] = "resumed"

    return _mutate(store, namespace, name, change)


def retry_workflow(store: ObjectStore, namespace: str, name: str, body: Obj) -> Obj:
    """Re-run a failed workflow's failed branches; succeeded nodes are kept."""
    workflow = _require(store, namespace, name)
    status = workflow.get("status") or {}
    if status.get("phase") not in ("Failed", "Error"):
        raise BadRequestError(f"workflow {name!r} must be Failed or Error to retry")
    nodes: dict[str, Obj] = status.get("nodes") or {}
    parents: dict[str, str] = {}
    for node in nodes.values():
        for child in node.get("children") or []:
            parents.setdefault(child, node["id"])
    reset: set[str] = set()
    removed: set[str] = set()
    for node in nodes.values():
        if node["phase"] in FAILED_OR_ERROR or node["name"].endswith(".onExit"):
            if node["type"] in ("Pod", "Skipped", "Suspend", "Retry") or node["name"].endswith(
                ".onExit"
            ):
                removed.add(node["id"])
            else:
                reset.add(node["id"])
    for node_id in list(removed) + list(reset):
        parent = parents.get(node_id)
        while parent is not None:
            if parent not in removed:
                reset.add(parent)
            parent = parents.get(parent)
    removed |= {c for r in list(removed) for c in _descendants(nodes, r)}
    wf_name = workflow["metadata"]["name"]
    for node_id in removed:
        found = nodes.get(node_id)
        if found is not None and found["type"] == "Pod":
            with contextlib.suppress(ApiError):
                store.delete(
                    "v1/Pod",
                    namespace,
                    pod_name(wf_name, node.get("templateName", ""), node["name"]),
                )

    def change(obj: Obj) -> None:
        st = obj.setdefault("status", {})
        live = st.get("nodes") or {}
        for node_id in removed:
            live.pop(node_id, None)
        for node_id in reset:
            node = live.get(node_id)
            if node is None:
                continue
            node["phase"] = "Running"
            node.pop("finishedAt", None)
            node.pop("message", None)
            node.pop("outboundNodes", None)
            node["children"] = [c for c in node.get("children") or [] if c not in removed]
        for node in live.values():
            if node.get("children"):
                node["children"] = [c for c in node["children"] if c not in removed]
        st["phase"] = "Running"
        for key in ("finishedAt", "message", "conditions"):
            st.pop(key, None)
        obj["spec"].pop("shutdown", None)
        labels = obj["metadata"].get("labels") or {}
        labels.pop("workflows.argoproj.io/completed", None)
        labels["workflows.argoproj.io/phase"] = "Running"
        obj["metadata"]["labels"] = labels

    return _mutate(store, namespace, name, change)


def _descendants(nodes: dict[str, Obj], node_id: str) -> set[str]:
    out: set[str] = set()
    stack = list((nodes.get(node_id) or {}).get("children") or [])
    while stack:
        current = stack.pop()
        if current in out:
            continue
        out.add(current)
        stack.extend((nodes.get(current) or {}).get("children") or [])
    return out


def resubmit_workflow(store: ObjectStore, namespace: str, name: str, body: Obj) -> Obj:
    """A new workflow with the same spec (``<name>-`` prefix), labelled as a resubmission."""
    workflow = _require(store, namespace, name)
    spec = copy.deepcopy(workflow["spec"])
    spec.pop("shutdown", None)
    meta = workflow["metadata"]
    labels = {
        k: v
        for k, v in (meta.get("labels") or {}).items()
        if not k.startswith("workflows.argoproj.io/")
    }
    labels["workflows.argoproj.io/resubmitted-from-workflow"] = name
    new = {
        "apiVersion": GROUP_VERSION,
        "kind": "Workflow",
        "metadata": {"generateName": f"{name}-", "namespace": namespace, "labels": labels},
        "spec": spec,
        "status": {"phase": "Running"},
    }
    if meta.get("annotations"):
        new["metadata"]["annotations"] = meta["annotations"]
    return store.create(WORKFLOW, new)


_KINDS = {
    "workflowtemplate": (WORKFLOW_TEMPLATE, True),
    "clusterworkflowtemplate": (CLUSTER_WORKFLOW_TEMPLATE, False),
    "cronworkflow": (CRON_WORKFLOW, True),
}


def workflow_from_template(
    store: ObjectStore, namespace: str, kind: str, name: str, options: Obj
) -> Obj:
    """The Workflow ``argo submit --from kind/name`` creates (not yet stored)."""
    entry = _KINDS.get(kind.lower())
    if entry is None:
        raise InvalidError(
            f"resourceKind {kind!r} is not supported",
            causes=[
                FieldCause(
                    "resourceKind", "use WorkflowTemplate, ClusterWorkflowTemplate or CronWorkflow"
                )
            ],
        )
    kind_key, namespaced = entry
    source = store.try_get(kind_key, namespace if namespaced else "", name)
    if source is None:
        raise NotFoundError(f'{kind} "{name}" not found', kind=kind, name=name)
    labels = dict((options.get("labels") and _parse_labels(str(options["labels"]))) or {})
    if kind_key == CRON_WORKFLOW:
        spec = copy.deepcopy(source["spec"]["workflowSpec"])
        labels["workflows.argoproj.io/cron-workflow"] = name
    else:
        spec = {
            "workflowTemplateRef": {
                "name": name,
                **({"clusterScope": True} if not namespaced else {}),
            }
        }
        labels[
            "workflows.argoproj.io/workflow-template"
            if namespaced
            else "workflows.argoproj.io/cluster-workflow-template"
        ] = name
    params = []
    for item in options.get("parameters") or []:
        key, _, value = str(item).partition("=")
        params.append({"name": key, "value": value})
    if params:
        spec["arguments"] = {"parameters": params}
    if options.get("entryPoint"):
        spec["entrypoint"] = options["entryPoint"]
    meta: Obj = {"namespace": namespace, "labels": labels}
    if options.get("name"):
        meta["name"] = options["name"]
    else:
        meta["generateName"] = options.get("generateName") or f"{name}-"
    return {"apiVersion": GROUP_VERSION, "kind": "Workflow", "metadata": meta, "spec": spec}


def _parse_labels(text: str) -> dict[str, str]:
    out = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out
