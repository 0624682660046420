"""Dockyard serving: a feature area (see docs/extending.md for how it plugs in)."""
