"""Dockyard cli layer."""
