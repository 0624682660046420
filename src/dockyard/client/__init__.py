"""Dockyard client layer."""
