"""Dockyard server layer."""
