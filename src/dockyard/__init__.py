"""Dockyard: one open platform for running AI workloads.

The public entry points are the Python SDK (:class:`dockyard.Client` and
:class:`dockyard.AsyncClient`), the ``dockyard`` command line, and the HTTP API served by
``dockyard up``.
"""

from dockyard._version import __version__
from dockyard.client import AsyncClient, Client

__all__ = ["AsyncClient", "Client", "__version__"]
