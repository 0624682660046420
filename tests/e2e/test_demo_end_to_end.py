"""``dockyard demo`` runs end to end on the embedded default and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_runs_every_stage() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dockyard"), "demo"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "demo succeeded" in result.stdout
    assert "generated 10000 rows" in result.stdout
