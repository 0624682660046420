"""Annotation keys Dockyard itself writes on objects, shared by the layer that writes them
(the scheduler) and the layers that read them (node agent, CLI)."""

from __future__ import annotations

GPU_ASSIGNMENT = "dockyard.dev/gpu-assignment"
"""JSON list of ``{"index", "milli", "memoryMib"}``: the GPU devices and shares bound to a Pod."""

GPU_IDS = "dockyard.dev/gpu-ids"
"""Comma-separated device indices of the GPU assignment (becomes ``CUDA_VISIBLE_DEVICES``)."""

GPU_ENV = "dockyard.dev/gpu-env"
"""JSON object of the environment the node gives the Pod for its GPU assignment."""

GPU_MODEL = "dockyard.dev/gpu-model"
"""Set by users: comma-separated GPU models the Pod accepts (any of them)."""
