"""Finding templates: by name in the workflow, inline, or through ``templateRef`` into a
WorkflowTemplate / ClusterWorkflowTemplate; and merging ``workflowTemplateRef`` specs.

Workflows layer. A :class:`TemplateSource` is the set of templates a name is looked up in:
the workflow's own, or those of the (Cluster)WorkflowTemplate a ``templateRef`` led into,
so a referenced DAG's tasks find their siblings. Referenced templates are copied into
``status.storedTemplates`` on first use, so a running workflow is not changed by later
edits to the template it came from (as Argo does).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dockyard.workflows._kinds import CLUSTER_WORKFLOW_TEMPLATE, WORKFLOW_TEMPLATE

#: ``lookup(kind_key, namespace, name)`` → the stored object or None.
Lookup = Callable[[str, str, str], dict[str, Any] | None]


class ResolveError(ValueError):
    """A template reference names nothing that exists."""


@dataclass(frozen=True)
class TemplateSource:
    key: str  # "" for the workflow itself, else "namespaced/<name>" or "cluster/<name>"
    templates: dict[str, dict[str, Any]]


def merge_defaults(template: dict[str, Any], defaults: dict[str, Any] | None) -> dict[str, Any]:
    """``templateDefaults`` under the template's own fields (maps merge, template wins)."""
    if not defaults:
        return template
    return _deep_merge(copy.deepcopy(defaults), template)


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _deep_merge(base[key], value)
        else:
            base[key] = value
    return base


class Resolver:
    def __init__(
        self,
        spec: dict[str, Any],
        namespace: str,
        lookup: Lookup,
        stored: dict[str, Any],
    ) -> None:
        self.root = TemplateSource(
            "", {t["name"]: t for t in spec.get("templates") or [] if t.get("name")}
        )
        self.namespace = namespace
        self.lookup = lookup
        self.stored = stored  # status.storedTemplates, updated in place
        self.defaults = spec.get("templateDefaults")
        self._sources: dict[str, TemplateSource] = {}

    def source(self, ref: dict[str, Any]) -> TemplateSource:
        cluster = bool(ref.get("clusterScope"))
        key = f"{'cluster' if cluster else 'namespaced'}/{ref['name']}"
        found = self._sources.get(key)
        if found is not None:
            return found
        obj = self.lookup(
            CLUSTER_WORKFLOW_TEMPLATE if cluster else WORKFLOW_TEMPLATE,
            "" if cluster else self.namespace,
            ref["name"],
        )
        templates: dict[str, dict[str, Any]] = {}
        if obj is not None:
            templates = {t["name"]: t for t in obj["spec"].get("templates") or [] if t.get("name")}
        prefix = key + "/"
        for stored_key, template in self.stored.items():
            if stored_key.startswith(prefix):
                templates[stored_key[len(prefix) :]] = template
        if obj is None and not templates:
            kind = "ClusterWorkflowTemplate" if cluster else "WorkflowTemplate"
            raise ResolveError(f'{kind} "{ref["name"]}" not found')
        found = TemplateSource(key, templates)
        self._sources[key] = found
        return found

    def resolve(
        self, call: dict[str, Any], source: TemplateSource
    ) -> tuple[dict[str, Any], TemplateSource]:
        """The template a step/task/hook calls and the source its own references use."""
        if call.get("inline") is not None:
            template = dict(call["inline"])
            template.setdefault("name", call.get("name") or "inline")
            return merge_defaults(template, self.defaults), source
        ref = call.get("templateRef")
        if ref is not None:
            target = self.source(ref)
            found = target.templates.get(ref["template"])
            if found is None:
                raise ResolveError(
                    f'template "{ref["template"]}" not found in {target.key.replace("/", " ")}'
                )
            self.stored.setdefault(f"{target.key}/{ref['template']}", found)
            return merge_defaults(found, self.defaults), target
        name = call.get("template")
        if not name:
            raise ResolveError("a step or task must name a template, templateRef or inline")
        named = source.templates.get(name)
        if named is None:
            where = "the workflow" if not source.key else source.key.replace("/", " ")
            raise ResolveError(f"template {name!r} not found in {where}")
        if source.key:
            self.stored.setdefault(f"{source.key}/{name}", named)
        return merge_defaults(named, self.defaults), source


def merge_workflow_template(spec: dict[str, Any], lookup: Lookup, namespace: str) -> dict[str, Any]:
    """The spec a workflow with ``workflowTemplateRef`` runs: the template's spec with the
    workflow's own fields on top; arguments merge by parameter name."""
    ref = spec.get("workflowTemplateRef")
    if not ref:
        return spec
    cluster = bool(ref.get("clusterScope"))
    obj = lookup(
        CLUSTER_WORKFLOW_TEMPLATE if cluster else WORKFLOW_TEMPLATE,
        "" if cluster else namespace,
        ref["name"],
    )
    if obj is None:
        kind = "ClusterWorkflowTemplate" if cluster else "WorkflowTemplate"
        raise ResolveError(f'{kind} "{ref["name"]}" not found')
    merged: dict[str, Any] = copy.deepcopy(obj["spec"])
    for key, value in spec.items():
        if key == "workflowTemplateRef":
            continue
        if key == "arguments":
            params = {p["name"]: p for p in (merged.get("arguments") or {}).get("parameters") or []}
            for param in (value or {}).get("parameters") or []:
                params[param["name"]] = param
            merged.setdefault("arguments", {})["parameters"] = list(params.values())
        else:
            merged[key] = value
    return merged
