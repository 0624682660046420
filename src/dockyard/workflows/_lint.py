"""Static checks of a Workflow before it is stored (``argo lint`` and creation).

Workflows layer. Catches what would otherwise only fail at run time: a missing
entrypoint, a step or task naming a template that does not exist, a template with no (or
two) types, a malformed ``depends`` or one naming an unknown task. Errors are
InvalidError with one cause per problem, naming the field.
"""

from __future__ import annotations

from typing import Any

from dockyard.api.errors import FieldCause, InvalidError
from dockyard.store import ObjectStore
from dockyard.workflows._depends import DependsError, parse_depends, referenced_tasks

_TYPES = ("container", "script", "steps", "dag", "suspend", "resource", "http", "plugin", "data",
          "containerSet")  # fmt: skip


def lint_workflow(workflow: dict[str, Any], store: ObjectStore | None = None) -> None:
    spec = workflow.get("spec") or {}
    causes: list[FieldCause] = []
    templates = {t.get("name"): t for t in spec.get("templates") or []}
    uses_ref = bool(spec.get("workflowTemplateRef"))
    entry = spec.get("entrypoint")
    if not uses_ref:
        if not entry:
            causes.append(FieldCause("spec.entrypoint", "is required", "FieldValueRequired"))
        elif entry not in templates and "{{" not in entry:
            causes.append(FieldCause("spec.entrypoint", f"template {entry!r} not found"))
    for index, template in enumerate(spec.get("templates") or []):
        where = f"spec.templates[{index}]"
        kinds = [k for k in _TYPES if template.get(k) is not None]
        if len(kinds) != 1:
            message = (
                "has no template type" if not kinds else f"has several types: {', '.join(kinds)}"
            )
            causes.append(FieldCause(where, message))
        for g, group in enumerate(template.get("steps") or []):
            for s, step in enumerate(group):
                _check_call(step, templates, f"{where}.steps[{g}][{s}]", causes)
        dag = template.get("dag")
        if dag:
            names = {t.get("name") for t in dag.get("tasks") or []}
            for t, task in enumerate(dag.get("tasks") or []):
                field = f"{where}.dag.tasks[{t}]"
                _check_call(task, templates, field, causes)
                deps: list[str] = list(task.get("dependencies") or [])
                if task.get("depends"):
                    try:
                        deps += referenced_tasks(parse_depends(str(task["depends"])))
                    except DependsError as exc:
                        causes.append(FieldCause(f"{field}.depends", str(exc)))
                for dep in deps:
                    if dep not in names:
                        causes.append(
                            FieldCause(f"{field}.depends", f"task {dep!r} does not exist")
                        )
    on_exit = spec.get("onExit")
    if on_exit and on_exit not in templates and not uses_ref:
        causes.append(FieldCause("spec.onExit", f"template {on_exit!r} not found"))
    if causes:
        name = (workflow.get("metadata") or {}).get("name") or (workflow.get("metadata") or {}).get(
            "generateName", ""
        )
        raise InvalidError(
            f"Workflow {name!r} is invalid", causes=causes, kind="Workflow", name=name
        )


def _check_call(
    call: dict[str, Any], templates: dict[Any, Any], field: str, causes: list[FieldCause]
) -> None:
    if call.get("templateRef") or call.get("inline"):
        return
    name = call.get("template")
    if not name:
        causes.append(FieldCause(field, "names no template, templateRef or inline template"))
    elif name not in templates and "{{" not in str(name):
        causes.append(FieldCause(f"{field}.template", f"template {name!r} not found"))
