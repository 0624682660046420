"""Dockyard's scheduler plugins and the named policy profiles built from them.

``policy_profile(name, typical, rng)`` returns the ``Profile`` of a placement policy:
the filters (CPU/memory fit, GPU fit) plus the policy's score and device plugins. The live
scheduler and ``dockyard.sim`` both build their frameworks with it. ``typical`` is the
workload's typical pods (``TypicalPods.from_pods`` over recent or expected pods); ``rng``
feeds the Random policy.
"""

from dockyard.scheduler.plugins._registry import (
    DEFAULT_POLICY,
    POLICIES,
    policy_profile,
)
from dockyard.scheduler.plugins.fgd import FgdScore
from dockyard.scheduler.plugins.filters import GpuFit, NodeResourcesFit
from dockyard.scheduler.plugins.frag import FragModel, TypicalPods, shape_of
from dockyard.scheduler.plugins.policies import (
    BestFitDevices,
    BestFitScore,
    DotProductScore,
    GpuClusteringScore,
    GpuPackingScore,
    RandomDevices,
    RandomScore,
)
from dockyard.scheduler.plugins.queue import PrioritySort

__all__ = [
    "DEFAULT_POLICY",
    "POLICIES",
    "BestFitDevices",
    "BestFitScore",
    "DotProductScore",
    "FgdScore",
    "FragModel",
    "GpuClusteringScore",
    "GpuFit",
    "GpuPackingScore",
    "NodeResourcesFit",
    "PrioritySort",
    "RandomDevices",
    "RandomScore",
    "TypicalPods",
    "policy_profile",
    "shape_of",
]
