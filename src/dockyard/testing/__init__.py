"""Builders and helpers for testing code that uses Dockyard (shipped, importable)."""

from dockyard.testing.builders import PodBuilder, make_pod
from dockyard.testing.process import DockyardUp, free_port

__all__ = ["DockyardUp", "PodBuilder", "free_port", "make_pod"]
