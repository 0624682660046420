"""Dockyard: one open platform for running AI workloads.

The public entry points are the Python SDK (:class:`dockyard.Client`), the ``dockyard``
command line, and the HTTP API served by ``dockyard up``.
"""

from dockyard._version import __version__

__all__ = ["__version__"]
