"""Pod and Node objects → the framework's ``PodRequest`` and ``NodeSpec``.

GPU requests on a Pod (per container, summed; limits count as requests):

* ``nvidia.com/gpu: N`` — N whole GPUs;
* ``dockyard.dev/gpu-milli: M`` (1 to 1000) — a share of one GPU (with ``nvidia.com/gpu``
  absent or 1); with ``nvidia.com/gpu: N > 1`` it is the share of each of the N devices;
* ``dockyard.dev/gpu-memory: 8Gi`` — GPU memory per device;
* a GPU model constraint: annotation ``dockyard.dev/gpu-model: "A100,V100"`` (any of) or
  the node selector ``nvidia.com/gpu.product``.
"""

from __future__ import annotations

from typing import Any

from dockyard.api.annotations import GPU_MODEL as GPU_MODEL_ANNOTATION
from dockyard.api.core import RESOURCE_GPU_MEMORY, RESOURCE_GPU_MILLI
from dockyard.api.resources import amounts, pod_requests
from dockyard.scheduler.framework import PodRequest
from dockyard.scheduler.framework._types import GPU_MILLI_PER_DEVICE, NodeSpec

GPU = "nvidia.com/gpu"
GPU_MILLI = RESOURCE_GPU_MILLI
GPU_MEMORY = RESOURCE_GPU_MEMORY
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
MIB = 2**20


def pod_request(pod: dict[str, Any]) -> PodRequest:
    spec = pod["spec"]
    requests = pod_requests(spec)
    gpu_count = requests.get(GPU, 0)
    gpu_milli = requests.get(GPU_MILLI, 0)
    if gpu_milli and not gpu_count:
        gpu_count = 1
    if gpu_count and not gpu_milli:
        gpu_milli = GPU_MILLI_PER_DEVICE
    models: tuple[str, ...] = ()
    annotation = (pod["metadata"].get("annotations") or {}).get(GPU_MODEL_ANNOTATION)
    if annotation:
        models = tuple(m.strip() for m in annotation.split(",") if m.strip())
    elif (spec.get("nodeSelector") or {}).get(GPU_PRODUCT_LABEL):
        models = (spec["nodeSelector"][GPU_PRODUCT_LABEL],)
    return PodRequest(
        name=f"{pod['metadata'].get('namespace', '')}/{pod['metadata']['name']}",
        cpu_milli=requests.get("cpu", 0),
        memory_mib=-(-requests.get("memory", 0) // MIB),
        gpu_count=gpu_count,
        gpu_milli=gpu_milli,
        gpu_memory_mib=-(-requests.get(GPU_MEMORY, 0) // MIB),
        gpu_models=models,
        priority=int(spec.get("priority") or 0),
    )


def node_spec(node: dict[str, Any]) -> NodeSpec:
    status = node.get("status") or {}
    capacity = amounts(status.get("allocatable") or status.get("capacity"))
    gpus = status.get("gpus") or []
    return NodeSpec(
        name=node["metadata"]["name"],
        cpu_milli=capacity.get("cpu", 0),
        memory_mib=capacity.get("memory", 0) // MIB,
        gpu_count=len(gpus),
        gpu_model=str(gpus[0].get("model", "")) if gpus else "",
        gpu_memory_mib=int(gpus[0].get("memoryMib") or 0) if gpus else 0,
    )
