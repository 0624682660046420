"""The workflow stage of ``dockyard demo`` runs end to end against a control plane."""

from __future__ import annotations

import io

from rich.console import Console

from dockyard.server import BackgroundControlPlane
from dockyard.workflows.demo import run_workflow_stage


def test_workflow_stage_succeeds_and_prints_the_manifest(plane: BackgroundControlPlane) -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False)
    assert run_workflow_stage(plane.url, plane.cp.token, console), out.getvalue()
    text = out.getvalue()
    assert "manifest" in text and "in 4 shards" in text
    assert "clean(3:" in text or "clean(3" in text
