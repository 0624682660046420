"""The agent-sandbox runtime on this node: long-lived sandboxes (`Box`) with a daemon
inside, and the client that talks to that daemon (`DaemonClient`).

`kernel.py` and `sandboxd.py` are not imported by Dockyard: they are bind-mounted read-only
into each sandbox and run there by the host's /usr/bin/python3.
"""

from dockyard.sandbox.runtime._box import Box, BoxSpec, NodeFiles, prepare_node
from dockyard.sandbox.runtime._client import DaemonClient, DaemonError

__all__ = ["Box", "BoxSpec", "DaemonClient", "DaemonError", "NodeFiles", "prepare_node"]
