"""The final state of a sandbox whose supervisor is no longer running (e.g. it finished
while the control plane was down)."""

from __future__ import annotations

import json
from pathlib import Path

from dockyard.node.sandbox._layout import StateLayout
from dockyard.node.sandbox._spec import SandboxStatus
from dockyard.node.sandbox._status import read_record, read_status


def read_final_status(state_dir: Path) -> tuple[SandboxStatus, bool] | None:
    """``(status, completed)`` for a dead sandbox: ``completed`` is True when the supervisor
    recorded its own end (the Pod ran to completion), False when it vanished. None when
    ``state_dir`` holds no sandbox record at all."""
    layout = StateLayout(state_dir)
    try:
        meta = json.loads(layout.meta.read_text())
        inits, apps = list(meta["init_containers"]), list(meta["containers"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        oom_kills = int((state_dir / "oom_kills").read_text())
    except (OSError, ValueError):
        oom_kills = 0
    completed = read_record(layout.pod_record) is not None
    return read_status(layout, inits, apps, False, oom_kills), completed
