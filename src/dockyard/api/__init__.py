"""Dockyard api layer."""
