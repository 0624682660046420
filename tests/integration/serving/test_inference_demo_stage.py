"""The inference stage of ``dockyard demo`` runs end to end against a control plane: a
RoleBasedGroup of emulated engines, its InferencePool's status, and chat streamed through a
gateway that watches the pool."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from dockyard.server import BackgroundControlPlane
from dockyard.serving.demo import run_inference_stage


@pytest.mark.timeout(120)
def test_inference_stage_streams_through_the_watched_pool(plane: BackgroundControlPlane) -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False)
    assert run_inference_stage(plane.url, plane.cp.token, console), out.getvalue()
    text = out.getvalue()
    assert "3 ready endpoints (2 decode, 1 prefill)" in text, text
    assert "disaggregated prefills:" in text
