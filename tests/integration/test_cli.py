"""The ``dockyard`` command line against a real control plane (as a user types it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dockyard.server import BackgroundControlPlane

DOCKYARD = str(Path(sys.executable).parent / "dockyard")


@pytest.fixture(scope="module")
def env(plane: BackgroundControlPlane) -> dict[str, str]:
    return {**os.environ, "DOCKYARD_SERVER": plane.url, "DOCKYARD_TOKEN": plane.cp.token}


def dockyard(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DOCKYARD, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


MANIFEST = textwrap.dedent(
    """
    apiVersion: v1
    kind: Pod
    metadata: {generateName: cli-}
    spec:
      restartPolicy: Never
      containers:
      - {name: main, image: busybox, command: [sh, -c, "echo from-cli"]}
    ---
    apiVersion: v1
    kind: Pod
    metadata: {name: cli-named}
    spec:
      restartPolicy: Never
      containers:
      - {name: main, image: python:3.11, command: [python3, -c, "print(6*7)"]}
    """
)


def test_apply_wait_logs_get_describe_delete(env: dict[str, str]) -> None:
    applied = dockyard(env, "apply", "-f", "-", stdin=MANIFEST)
    assert applied.returncode == 0, applied.stderr
    generated = [
        w for w in applied.stdout.split() if w.startswith("pod/cli-") and w != "pod/cli-named"
    ]
    assert generated, applied.stdout
    waited = dockyard(env, "wait", "pod/cli-named", "--for=phase=Succeeded", "--timeout", "30s")
    assert waited.returncode == 0, waited.stderr
    assert dockyard(env, "logs", "pod/cli-named").stdout.strip() == "42"
    listed = json.loads(dockyard(env, "get", "pods", "-o", "json").stdout)
    assert "cli-named" in [p["metadata"]["name"] for p in listed["items"]]
    described = dockyard(env, "describe", "pod", "cli-named")
    assert described.returncode == 0 and "Succeeded" in described.stdout
    assert dockyard(env, "delete", "pod", "cli-named").returncode == 0
    assert dockyard(env, "get", "pod", "cli-named").returncode == 1


def test_wait_reports_actual_phase_on_failure(env: dict[str, str]) -> None:
    failing = (
        MANIFEST.split("---")[1]
        .replace("cli-named", "cli-fails")
        .replace('"print(6*7)"', '"raise SystemExit(3)"')
    )
    assert dockyard(env, "apply", "-f", "-", stdin=failing).returncode == 0
    waited = dockyard(env, "wait", "pod/cli-fails", "--for=phase=Succeeded", "--timeout", "30s")
    assert waited.returncode != 0 and "Failed" in (waited.stderr + waited.stdout)


@pytest.mark.parametrize(
    ("stdin", "needle"),
    [
        pytest.param("a: [1, 2\n", "line", id="malformed-yaml"),
        pytest.param(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: 3}\n",
            "spec.containers",
            id="wrong-type",
        ),
        pytest.param(
            "apiVersion: v1\nkind: Gadget\nmetadata: {name: x}\n", "Gadget", id="unknown-kind"
        ),
        pytest.param(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers: [{name: c, image: busybox}]\n  bogus: 1\n",
            "spec.bogus",
            id="unknown-field",
        ),
    ],
)
def test_bad_manifests_exit_1_naming_the_problem(
    env: dict[str, str], stdin: str, needle: str
) -> None:
    result = dockyard(env, "apply", "-f", "-", stdin=stdin)
    assert result.returncode == 1
    assert needle in result.stderr + result.stdout


def test_wrong_token_is_reported(env: dict[str, str]) -> None:
    result = dockyard({**env, "DOCKYARD_TOKEN": "wrong"}, "get", "pods")
    assert result.returncode == 1 and "Unauthorized" in result.stderr


def test_version_reports_client_and_server(env: dict[str, str]) -> None:
    result = dockyard(env, "version")
    assert result.returncode == 0 and result.stdout.count("0.1.0") >= 2


def test_up_refuses_no_auth_off_loopback(tmp_path: Path) -> None:
    result = subprocess.run(
        [DOCKYARD, "up", "--host", "0.0.0.0", "--no-auth", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "loopback" in result.stderr


def test_get_watch_prints_changes(env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [DOCKYARD, "get", "pods", "-w", "-o", "name"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        pod = MANIFEST.split("---")[1].replace("cli-named", "cli-watched")
        assert dockyard(env, "apply", "-f", "-", stdin=pod).returncode == 0
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line.strip())
            if "pod/cli-watched" in seen:
                break
        assert "pod/cli-watched" in seen
    finally:
        proc.terminate()
        proc.wait(10)
