"""Dockyard's default placement policy (work in progress: FGD for now)."""

from __future__ import annotations

from dockyard.scheduler.framework import Plugin
from dockyard.scheduler.plugins.fgd import FgdScore
from dockyard.scheduler.plugins.frag import TypicalPods


def dockyard_plugins(typical: TypicalPods) -> tuple[Plugin, ...]:
    """Score and device plugins of the default policy."""
    return (FgdScore(typical),)
