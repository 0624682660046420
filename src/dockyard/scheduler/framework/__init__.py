"""Dockyard's scheduling framework: phases as small protocols, a cycle that decides, and a
separate step that applies.

Live integration (the control plane) and the simulator use it the same way::

    snapshot = ClusterSnapshot.from_nodes([NodeSpec("n1", cpu_milli=64000,
                                                    memory_mib=262144, gpu_count=8,
                                                    gpu_model="A100")])
    for pod, node, devices in running:                 # bound Pods, from the store
        snapshot.assume(snapshot.index[node], pod, devices)
    fw = Framework(policy_profile("dockyard", typical))  # dockyard.scheduler.plugins
    decision = fw.schedule(PodRequest("p", cpu_milli=4000, gpu_count=1, gpu_milli=500),
                           snapshot)                    # frozen; snapshot unchanged
    if decision.scheduled:
        fw.commit(pod, snapshot, decision)              # reserve → permit → bind
        env = device_env(decision)                      # CUDA_VISIBLE_DEVICES, share
    else:
        print(decision.explain())                       # "0/12 nodes are available: ..."

A live caller converts each Node into a ``NodeSpec`` and each Pod's resources into a
``PodRequest``; it may keep one snapshot and ``assume``/``forget`` as pods come and go
(score caches then stay warm), or build a fresh one per cycle.
"""

from dockyard.scheduler.framework._framework import Framework
from dockyard.scheduler.framework._interfaces import (
    BindPlugin,
    CachedScorePlugin,
    CycleState,
    DevicePlugin,
    FilterPlugin,
    FloatArray,
    NormalizeScorePlugin,
    PermitPlugin,
    Plugin,
    PostFilterPlugin,
    PreFilterPlugin,
    PreScorePlugin,
    QueueSortPlugin,
    ReservePlugin,
    ScorePlugin,
)
from dockyard.scheduler.framework._profile import Profile, WeightedPlugin, profile
from dockyard.scheduler.framework._snapshot import BoolArray, ClusterSnapshot, IntArray
from dockyard.scheduler.framework._status import (
    SUCCESS,
    Code,
    Status,
    unresolvable,
    unschedulable,
)
from dockyard.scheduler.framework._types import (
    GPU_DEVICES_ENV,
    GPU_MEMORY_ENV,
    GPU_MILLI_ENV,
    GPU_MILLI_PER_DEVICE,
    MAX_GPU_KINDS,
    Decision,
    DeviceShare,
    NodeSpec,
    PodRequest,
    device_env,
)

__all__ = [
    "GPU_DEVICES_ENV",
    "GPU_MEMORY_ENV",
    "GPU_MILLI_ENV",
    "GPU_MILLI_PER_DEVICE",
    "MAX_GPU_KINDS",
    "SUCCESS",
    "BindPlugin",
    "BoolArray",
    "CachedScorePlugin",
    "ClusterSnapshot",
    "Code",
    "CycleState",
    "Decision",
    "DevicePlugin",
    "DeviceShare",
    "FilterPlugin",
    "FloatArray",
    "Framework",
    "IntArray",
    "NodeSpec",
    "NormalizeScorePlugin",
    "PermitPlugin",
    "Plugin",
    "PodRequest",
    "PostFilterPlugin",
    "PreFilterPlugin",
    "PreScorePlugin",
    "Profile",
    "QueueSortPlugin",
    "ReservePlugin",
    "ScorePlugin",
    "Status",
    "WeightedPlugin",
    "device_env",
    "profile",
    "unresolvable",
    "unschedulable",
]
