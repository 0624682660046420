"""Dockyard scheduler layer."""
