"""Dockyard server layer: the embedded control plane and its HTTP API."""

from dockyard.server.config import DEFAULT_PORT, ControlPlaneConfig
from dockyard.server.controlplane import ControlPlane
from dockyard.server.run import BackgroundControlPlane, run_control_plane

__all__ = [
    "DEFAULT_PORT",
    "BackgroundControlPlane",
    "ControlPlane",
    "ControlPlaneConfig",
    "run_control_plane",
]
