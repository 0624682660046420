"""Fluent builders for scheduler tests: ``make_pod().gpu_milli(500).build()``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from dockyard.scheduler.framework import ClusterSnapshot, DeviceShare, NodeSpec, PodRequest


class PodBuilder:
    def __init__(self, name: str) -> None:
        self._pod = PodRequest(name=name, cpu_milli=1000, memory_mib=1024)

    def _set(self, **kw: object) -> PodBuilder:
        self._pod = dataclasses.replace(self._pod, **kw)  # type: ignore[arg-type]
        return self

    def cpu(self, milli: int) -> PodBuilder:
        return self._set(cpu_milli=milli)

    def memory(self, mib: int) -> PodBuilder:
        return self._set(memory_mib=mib)

    def gpus(self, count: int) -> PodBuilder:
        return self._set(gpu_count=count, gpu_milli=1000)

    def gpu_milli(self, milli: int) -> PodBuilder:
        return self._set(gpu_count=1, gpu_milli=milli)

    def gpu_memory(self, mib: int) -> PodBuilder:
        return self._set(gpu_memory_mib=mib)

    def models(self, *names: str) -> PodBuilder:
        return self._set(gpu_models=tuple(names))

    def build(self) -> PodRequest:
        return self._pod


def make_pod(name: str = "p") -> PodBuilder:
    return PodBuilder(name)


def node(
    name: str,
    gpus: int = 8,
    cpu: int = 64000,
    mem: int = 262144,
    model: str = "A100",
    gpu_mem: int = 0,
) -> NodeSpec:
    return NodeSpec(name, cpu, mem, gpus, model if gpus else "", gpu_mem)


def cluster(*nodes: NodeSpec, rank: Sequence[int] | None = None) -> ClusterSnapshot:
    return ClusterSnapshot.from_nodes(list(nodes), rank)


def occupy(snap: ClusterSnapshot, node_name: str, used: Sequence[int], cpu: int = 0) -> None:
    """Put one filler pod per device using ``used[g]`` milli (0 = leave the device free)."""
    j = snap.index[node_name]
    for g, milli in enumerate(used):
        if milli:
            pod = PodRequest(f"fill-{node_name}-{g}", gpu_count=1, gpu_milli=milli)
            snap.assume(j, pod, (DeviceShare(g, milli),))
    if cpu:
        snap.assume(j, PodRequest(f"cpu-{node_name}", cpu_milli=cpu), ())
