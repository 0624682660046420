"""`Placement`: how a feature asks the platform's scheduler for a node for a workload that
is not a Pod (an agent sandbox), and gives the capacity back.

Control layer (no scheduler import): the server hands its scheduler to extensions through
`Platform.placement`. A placement runs one cycle of the same scheduling framework and
plugins as Pods (resource fit for CPU and memory, node eligibility: readiness, cordoning,
node selector, pod count) and counts the workload against the chosen node until
`release`, so Pods and sandboxes share every node's capacity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class Unplaceable(Exception):
    """No node can take the workload now; the message is the scheduler's explanation
    (e.g. ``0/3 nodes are available: 3 Insufficient cpu``)."""


class Placement(Protocol):
    def place(
        self, key: str, cpu_milli: int, memory_mib: int, node_selector: Mapping[str, str]
    ) -> str:
        """Choose a node for workload `key` and count its requests against that node;
        returns the node's name. Raises `Unplaceable` when it fits nowhere."""
        ...

    def assume(self, key: str, node: str, cpu_milli: int, memory_mib: int) -> None:
        """Count workload `key`, already on `node` (e.g. adopted after a restart)."""
        ...

    def release(self, key: str) -> None:
        """Give back what `key` held (a no-op for unknown keys)."""
        ...
