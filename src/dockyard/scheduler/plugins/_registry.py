"""Policy names → profiles. The names are the ones ``dockyard sim replay --policy`` takes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dockyard.scheduler.framework import Plugin, Profile, profile
from dockyard.scheduler.plugins.fgd import FgdScore
from dockyard.scheduler.plugins.filters import GpuFit, NodeResourcesFit
from dockyard.scheduler.plugins.frag import TypicalPods
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

DEFAULT_POLICY = "dockyard"

_Builder = Callable[[TypicalPods, np.random.Generator], tuple[Plugin, ...]]

_POLICIES: dict[str, _Builder] = {
    "random": lambda t, rng: (RandomScore(rng), RandomDevices(rng)),
    "dotprod": lambda t, rng: (DotProductScore(), BestFitDevices()),
    "gpuclustering": lambda t, rng: (GpuClusteringScore(), BestFitDevices()),
    "gpupacking": lambda t, rng: (GpuPackingScore(), BestFitDevices()),
    "bestfit": lambda t, rng: (BestFitScore(), BestFitDevices()),
    "fgd": lambda t, rng: (FgdScore(t),),
}

POLICIES: tuple[str, ...] = (*_POLICIES, DEFAULT_POLICY)
"""Every policy name, the six of the FGD paper first, Dockyard's default last."""


def policy_profile(
    name: str,
    typical: TypicalPods,
    rng: np.random.Generator | None = None,
    extra_filters: tuple[Plugin, ...] = (),
) -> Profile:
    """The profile of policy ``name`` (``ValueError`` for an unknown name).

    ``extra_filters`` run before the resource filters; the live scheduler adds node
    readiness and node-selector checks there, which traces don't need."""
    rng = rng if rng is not None else np.random.default_rng(0)
    if name == DEFAULT_POLICY:
        from dockyard.scheduler.plugins.dockyard_policy import dockyard_plugins

        policy: tuple[Plugin, ...] = dockyard_plugins(typical)
    elif name in _POLICIES:
        policy = _POLICIES[name](typical, rng)
    else:
        raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}")
    return profile(
        name,
        PrioritySort(),
        *extra_filters,
        GpuFit(),
        NodeResourcesFit(),
        *((p, 1000.0) for p in policy),
    )
