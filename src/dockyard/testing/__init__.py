"""Builders and helpers for testing code that uses Dockyard (shipped, importable)."""

from dockyard.testing.builders import PodBuilder, make_pod

__all__ = ["PodBuilder", "make_pod"]
