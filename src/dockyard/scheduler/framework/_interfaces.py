"""Extension points of the scheduling framework, one small protocol per phase.

A plugin is any object with a ``name`` that implements one or more of these protocols; a
``Profile`` enables it (with a weight, for scores). Phases in order:

queue sort → pre-filter → filter → post-filter (only when nothing fits) → pre-score → score
(+ normalize) → select host → assign devices → *decision* → reserve → permit → bind.

Everything up to the decision reads the snapshot and changes nothing; reserve and later
phases belong to the separate apply step (``Framework.commit``).

Filters and scores are vectorized: they see all candidate nodes at once as numpy arrays
instead of being called once per node.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from dockyard.scheduler.framework._snapshot import BoolArray, ClusterSnapshot, IntArray
from dockyard.scheduler.framework._status import Status
from dockyard.scheduler.framework._types import Decision, DeviceShare, PodRequest

FloatArray = npt.NDArray[np.float64]


class CycleState:
    """Scratch space shared by the plugins of one cycle (e.g. pre-score → score)."""

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}

    def write(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` for later phases of this cycle."""
        self._data[key] = value

    def read(self, key: str) -> Any:
        """Return the value stored under ``key``; ``KeyError`` when a phase did not run."""
        return self._data[key]


@runtime_checkable
class Plugin(Protocol):
    """Every plugin has a stable name, used in profiles, reasons and metrics."""

    @property
    def name(self) -> str: ...


@runtime_checkable
class QueueSortPlugin(Plugin, Protocol):
    """Orders the pending queue: ``less(a, b)`` is True when ``a`` goes first."""

    def less(self, a: PodRequest, b: PodRequest) -> bool: ...


@runtime_checkable
class PreFilterPlugin(Plugin, Protocol):
    """Checks the pod alone; a non-ok status ends the cycle before any node is looked at."""

    def pre_filter(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot
    ) -> Status: ...


@runtime_checkable
class FilterPlugin(Plugin, Protocol):
    """Rejects nodes that cannot run the pod.

    Returns a map from reason (e.g. ``"insufficient gpu"``) to a boolean mask over all nodes
    of the snapshot, True where the node is rejected for that reason. A node rejected by an
    earlier plugin or reason is counted only under the first one.
    """

    def filter(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot
    ) -> Mapping[str, BoolArray]: ...


@runtime_checkable
class PostFilterPlugin(Plugin, Protocol):
    """Runs when no node fits (preemption lives here); its status replaces the failure."""

    def post_filter(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, failed: Decision
    ) -> Status: ...


@runtime_checkable
class PreScorePlugin(Plugin, Protocol):
    """Sees the feasible node indices once before scoring."""

    def pre_score(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, feasible: IntArray
    ) -> Status: ...


@runtime_checkable
class ScorePlugin(Plugin, Protocol):
    """Scores the nodes at ``nodes`` (indices into the snapshot); higher is better.

    Must return one finite value per index. Nodes passed in may be infeasible when the
    plugin caches (see ``CachedScorePlugin``); any value is fine for them.
    """

    def score(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, nodes: IntArray
    ) -> FloatArray: ...


@runtime_checkable
class CachedScorePlugin(ScorePlugin, Protocol):
    """Capability: the score of node j depends only on node j's row and ``cache_key(pod)``.

    The framework then keeps scores between cycles and rescores only nodes whose
    ``snapshot.version`` changed. Return ``None`` to opt out for a pod.
    """

    def cache_key(self, pod: PodRequest) -> Hashable | None: ...


@runtime_checkable
class NormalizeScorePlugin(ScorePlugin, Protocol):
    """Capability: rescales the feasible nodes' scores (e.g. to 0..100) before weighting."""

    def normalize(self, state: CycleState, pod: PodRequest, scores: FloatArray) -> FloatArray: ...


@runtime_checkable
class DevicePlugin(Plugin, Protocol):
    """Chooses the GPU devices on the selected node (one per profile)."""

    def assign(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, node: int
    ) -> tuple[DeviceShare, ...]: ...


@runtime_checkable
class ReservePlugin(Plugin, Protocol):
    """Reserves plugin-owned state for a decision; ``unreserve`` must be idempotent."""

    def reserve(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, decision: Decision
    ) -> Status: ...

    def unreserve(
        self, state: CycleState, pod: PodRequest, snapshot: ClusterSnapshot, decision: Decision
    ) -> None: ...


@runtime_checkable
class PermitPlugin(Plugin, Protocol):
    """Approves (SUCCESS), denies (UNSCHEDULABLE) or holds (WAIT) a reserved decision."""

    def permit(self, state: CycleState, pod: PodRequest, decision: Decision) -> Status: ...


@runtime_checkable
class BindPlugin(Plugin, Protocol):
    """Makes the decision real (writes the binding); SKIP passes to the next binder."""

    def bind(self, state: CycleState, pod: PodRequest, decision: Decision) -> Status: ...
