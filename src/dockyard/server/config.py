"""Configuration of the embedded control plane started by ``dockyard up``."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 7420


def default_data_dir() -> Path:
    return Path(os.environ.get("DOCKYARD_DATA_DIR", Path.home() / ".dockyard"))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class ControlPlaneConfig:
    """Everything ``dockyard up`` can be told.

    ``no_auth`` is refused unless ``host`` is a loopback address: an unauthenticated
    control plane must never be reachable from another machine.
    """

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path = field(default_factory=default_data_dir)
    no_auth: bool = False
    tls: bool = False
    virtual_nodes: int = 0
    virtual_gpus: int = 0
    node_name: str | None = None
    sync_mode: str = "NORMAL"
    log_level: str = "info"

    def validate(self) -> None:
        if self.no_auth and not is_loopback(self.host):
            raise ValueError(f"--no-auth is only allowed when bound to loopback, not {self.host!r}")
        if self.virtual_nodes < 0 or self.virtual_gpus < 0:
            raise ValueError("--virtual-nodes and --virtual-gpus must not be negative")
        if self.virtual_gpus and not self.virtual_nodes:
            raise ValueError("--virtual-gpus needs --virtual-nodes")
        if self.sync_mode not in ("NORMAL", "FULL"):
            raise ValueError("sync mode must be NORMAL or FULL")
