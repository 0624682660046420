"""Dockyard store layer."""
