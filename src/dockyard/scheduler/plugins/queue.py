"""Queue-sort plugin: higher priority first, then FIFO by arrival (a stable sort)."""

from __future__ import annotations

from dockyard.scheduler.framework import PodRequest


class PrioritySort:
    """``less(a, b)``: ``a`` has strictly higher priority than ``b``."""

    name = "PrioritySort"

    def less(self, a: PodRequest, b: PodRequest) -> bool:
        return a.priority > b.priority
