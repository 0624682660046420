"""Which Nodes this machine provides, and their Node objects.

The machine itself is one Node with the CPUs, memory and GPUs the OS reports. With
``--virtual-nodes N --virtual-gpus G`` it also provides N emulated Nodes with G virtual GPUs
each: Pods bound to them still run as local sandboxed processes, with their assigned
virtual device ids in ``CUDA_VISIBLE_DEVICES``, so multi-node and GPU scheduling can be
exercised on a laptop.
"""

from __future__ import annotations

import platform
import re
import socket
from dataclasses import dataclass, field
from typing import Any

from dockyard._version import __version__
from dockyard.api.nodes import ready_node
from dockyard.api.quantity import format_cpu, format_memory
from dockyard.node.capacity import host_capacity

VIRTUAL_LABEL = "dockyard.dev/virtual"
VIRTUAL_GPU_MODEL = "Dockyard-Virtual-GPU"
VIRTUAL_GPU_MEMORY_MIB = 81920


@dataclass(frozen=True)
class GpuSlot:
    index: int
    model: str
    memory_mib: int
    uuid: str


@dataclass(frozen=True)
class NodeConfig:
    name: str
    cpu_millis: int
    memory_bytes: int
    gpus: tuple[GpuSlot, ...] = ()
    virtual: bool = False
    max_pods: int = 256
    labels: dict[str, str] = field(default_factory=dict)

    def to_object(self, now: str) -> dict[str, Any]:
        capacity = {
            "cpu": format_cpu(self.cpu_millis),
            "memory": format_memory(self.memory_bytes),
            "pods": str(self.max_pods),
        }
        if self.gpus:
            capacity["nvidia.com/gpu"] = str(len(self.gpus))
        labels = {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": _arch(),
            **self.labels,
        }
        if self.virtual:
            labels[VIRTUAL_LABEL] = "true"
        if self.gpus:
            labels["nvidia.com/gpu.product"] = _label_safe(self.gpus[0].model)
        return ready_node(
            self.name,
            labels=labels,
            capacity=capacity,
            reason="NodeAgentReady",
            message="Dockyard node agent is posting ready status",
            now=now,
            status_extra={
                "addresses": [
                    {"type": "Hostname", "address": self.name},
                    {"type": "InternalIP", "address": "127.0.0.1"},
                ],
                "nodeInfo": {
                    "kubeletVersion": f"dockyard-{__version__}",
                    "operatingSystem": "linux",
                    "architecture": _arch(),
                    "kernelVersion": platform.release(),
                },
                "gpus": [
                    {"index": g.index, "uuid": g.uuid, "model": g.model, "memoryMib": g.memory_mib}
                    for g in self.gpus
                ],
            },
        )


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _label_safe(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")
    return cleaned[:63] or "unknown"


def local_node_name() -> str:
    name = re.sub(r"[^a-z0-9.-]+", "-", socket.gethostname().lower()).strip("-.")
    return name[:63] or "localhost"


def node_configs(
    virtual_nodes: int = 0, virtual_gpus: int = 0, name: str | None = None
) -> list[NodeConfig]:
    """The local Node plus ``virtual_nodes`` emulated ones with ``virtual_gpus`` GPUs each."""
    host = host_capacity()
    local_name = name or local_node_name()
    local = NodeConfig(
        name=local_name,
        cpu_millis=host.cpu_millis,
        memory_bytes=host.memory_bytes,
        gpus=tuple(GpuSlot(g.index, g.model, g.memory_mib, g.uuid) for g in host.gpus),
    )
    virtual = [
        NodeConfig(
            name=f"{local_name}-v{i}",
            cpu_millis=host.cpu_millis,
            memory_bytes=host.memory_bytes,
            gpus=tuple(
                GpuSlot(j, VIRTUAL_GPU_MODEL, VIRTUAL_GPU_MEMORY_MIB, f"GPU-virtual-{i}-{j}")
                for j in range(virtual_gpus)
            ),
            virtual=True,
        )
        for i in range(1, virtual_nodes + 1)
    ]
    return [local, *virtual]
