"""Dockyard control layer."""
