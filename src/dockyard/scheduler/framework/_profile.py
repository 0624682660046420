"""``Profile``: which plugins a scheduler runs, and with what score weights."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dockyard.scheduler.framework._interfaces import DevicePlugin, Plugin, ScorePlugin


@dataclass(frozen=True, slots=True)
class WeightedPlugin:
    """A plugin enabled in a profile; ``weight`` multiplies its (normalized) score."""

    plugin: Plugin
    weight: float = 1.0


@dataclass(frozen=True)
class Profile:
    """A named set of enabled plugins.

    Each plugin takes part in every phase whose protocol it implements. Exactly one
    ``DevicePlugin`` chooses GPU devices. Weights only matter for score plugins and must be
    positive. Plugin names must be unique within a profile.
    """

    name: str
    plugins: Sequence[WeightedPlugin] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [wp.plugin.name for wp in self.plugins]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"profile {self.name!r}: duplicate plugins {dup}")
        devices = [wp.plugin.name for wp in self.plugins if isinstance(wp.plugin, DevicePlugin)]
        if len(devices) != 1:
            raise ValueError(
                f"profile {self.name!r}: needs exactly one device plugin, got {devices}"
            )
        for wp in self.plugins:
            if isinstance(wp.plugin, ScorePlugin) and not wp.weight > 0:
                raise ValueError(
                    f"profile {self.name!r}: weight of {wp.plugin.name} "
                    f"must be > 0, got {wp.weight}"
                )


def profile(name: str, *plugins: Plugin | tuple[Plugin, float]) -> Profile:
    """Build a profile from plugins or ``(plugin, weight)`` pairs (default weight 1)."""
    items = [
        WeightedPlugin(p[0], p[1]) if isinstance(p, tuple) else WeightedPlugin(p) for p in plugins
    ]
    return Profile(name, tuple(items))
