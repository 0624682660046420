"""Dockyard testing layer."""
