"""The agent-sandbox runtime on this node: long-lived sandboxes (`Box`) with a daemon
inside, the client that talks to that daemon (`DaemonClient`), and the nursery
(`Nursery`) whose zygote forks new sandboxes with the daemon already loaded.

`kernel.py`, `sandboxd.py` and `zygote.py` are not imported by Dockyard: `prepare_node`
compiles them once per control-plane start, and they are bind-mounted read-only into each
sandbox (and the nursery) and run there by the host's /usr/bin/python3.
"""

from dockyard.sandbox.runtime._box import (
    Box,
    BoxSpec,
    NodeFiles,
    prepare_node,
    remove_state_dir,
)
from dockyard.sandbox.runtime._client import DaemonClient, DaemonError
from dockyard.sandbox.runtime._nursery import Nursery

__all__ = [
    "Box",
    "BoxSpec",
    "DaemonClient",
    "DaemonError",
    "NodeFiles",
    "Nursery",
    "prepare_node",
    "remove_state_dir",
]
