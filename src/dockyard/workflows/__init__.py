"""Dockyard workflows: an Argo-compatible workflow engine whose steps run as Dockyard Pods.

Feature area. Installing :data:`extension` registers the Argo kinds (Workflow,
WorkflowTemplate, ClusterWorkflowTemplate, CronWorkflow), the workflow and cron
controllers, an admission hook that reports a newly accepted Workflow as ``Running``, the
``argoproj/argosay:v2`` image shim and the Argo Server REST API under ``/api/v1``.
"""

from __future__ import annotations

from dockyard.workflows._extension import WorkflowsExtension, extension
from dockyard.workflows._kinds import (
    ClusterWorkflowTemplate,
    CronWorkflow,
    Workflow,
    WorkflowTemplate,
)

__all__ = [
    "ClusterWorkflowTemplate",
    "CronWorkflow",
    "Workflow",
    "WorkflowTemplate",
    "WorkflowsExtension",
    "extension",
]
