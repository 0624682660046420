"""Trace-driven cluster simulation: replays a pod trace through the scheduling framework.

``replay`` runs one policy on one (node list, pod list, seed) with the protocol of the FGD
paper's simulator and returns a ``ReplayResult``; ``compare`` runs a grid of them beside the
authors' cached results. The same ``Framework`` and plugins as the live scheduler decide
every placement; only the snapshot comes from a trace instead of the store.
"""

from dockyard.sim.replay import ReplayResult, replay

__all__ = ["ReplayResult", "replay"]
