"""Dockyard node layer."""
