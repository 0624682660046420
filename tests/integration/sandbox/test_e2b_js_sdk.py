"""The unmodified E2B JavaScript SDKs (`e2b`, `@e2b/code-interpreter`, versions pinned in
``js/package-lock.json``) against a real control plane: code, commands (also streamed in
the background), files, a directory watch, a terminal, a snapshot and a sandbox started
from it, forks, pause and connect, kill.

Needs Node.js 20.18 or newer (the SDK's floor) and the npm registry; skipped without them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dockyard.server import BackgroundControlPlane

JS_DIR = Path(__file__).parent / "js"


def _node_version() -> tuple[int, ...] | None:
    node = shutil.which("node")
    if node is None:
        return None
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    try:
        return tuple(int(part) for part in out.stdout.strip().lstrip("v").split("."))
    except ValueError:
        return None


@pytest.fixture(scope="module")
def js_sdk() -> Path:
    version = _node_version()
    if version is None or version < (20, 18, 1):
        pytest.skip(f"the E2B JS SDK needs Node.js >= 20.18.1 (found {version})")
    if not (JS_DIR / "node_modules" / "e2b").exists():
        installed = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if installed.returncode != 0:
            pytest.skip(f"npm could not install the E2B JS SDK: {installed.stderr[-500:]}")
    return JS_DIR


def test_a_session_through_the_js_sdks(
    js_sdk: Path, plane: BackgroundControlPlane, api_key: str
) -> None:
    env = {**os.environ, "E2B_API_URL": plane.url, "E2B_SANDBOX_URL": plane.url,
           "E2B_API_KEY": api_key}  # fmt: skip
    env.pop("E2B_DEBUG", None)
    ran = subprocess.run(
        ["node", "session.mjs"], cwd=js_sdk, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    steps: dict[str, dict[str, Any]] = {}
    for line in ran.stdout.splitlines():
        record = json.loads(line)
        steps[record.pop("step")] = record

    assert steps["code"] == {"text": "42"}
    assert steps["error"] == {"name": "ZeroDivisionError"}
    assert steps["command"] == {"stdout": "out\n65534\n", "stderr": "err\n", "exitCode": 0}
    assert steps["background"]["exitCode"] == 0
    assert steps["background"]["streamed"] == "1\n2\n3\n"
    files = steps["files"]
    assert files["read"] == "from js"
    assert "notes.txt" in files["listed"]
    assert "create:notes.txt" in files["events"], files
    assert steps["pty"] == {"sawSize": True}
    assert steps["snapshot"] == {"copyX": "41", "copyFile": "from js"}
    assert steps["fork"] == {"grown": ["42", "43"], "sourceX": "41"}
    assert steps["pause"] == {"state": "paused", "metadata": {"sdk": "js"}, "afterX": "41"}
    assert steps["killed"] == {"listed": []}
