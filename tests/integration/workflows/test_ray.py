"""Workflow steps on a real two-node Ray cluster started on this machine.

``ray start --head`` and ``ray start --address …`` run as two nodes with distinct custom
resources; steps that ask for one or the other land on each, and their outputs, exit codes
and logs come back through the Argo API like those of local steps.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'dockyard[ray]'")

from dockyard.server import BackgroundControlPlane, ControlPlaneConfig
from dockyard.testing import free_port

RAY = str(Path(sys.executable).parent / "ray")
ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def _start(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [RAY, "start", "--block", "--disable-usage-stats", *args],
        env={**os.environ, **ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    port = free_port()
    head = _start(
        [
            "--head",
            f"--port={port}",
            "--num-cpus=1",
            '--resources={"head_slot": 4}',
            "--include-dashboard=false",
        ]
    )
    nodes = [head]
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail("ray start --head did not come up")
            time.sleep(0.2)
        nodes.append(
            _start(
                [f"--address=127.0.0.1:{port}", "--num-cpus=1", '--resources={"worker_slot": 4}']
            )
        )
        yield f"127.0.0.1:{port}"
    finally:
        for proc in reversed(nodes):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in nodes:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def ray_plane(
    ray_cluster: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BackgroundControlPlane]:
    saved = {k: os.environ.get(k) for k in [*ENV, "DOCKYARD_RAY_ADDRESS"]}
    os.environ.update({**ENV, "DOCKYARD_RAY_ADDRESS": ray_cluster})
    try:
        config = ControlPlaneConfig(
            host="127.0.0.1", port=free_port(), data_dir=tmp_path_factory.mktemp("dockyard-ray")
        )
        with BackgroundControlPlane(config) as running:
            yield running
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _on(slot: str) -> dict[str, Any]:
    return {"annotations": {"workflows.dockyard.io/ray-resources": f'{{"{slot}": 1}}'}}


WORKFLOW: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {
        "generateName": "on-ray-",
        "annotations": {"workflows.dockyard.io/executor": "ray"},
    },
    "spec": {
        "entrypoint": "main",
        "templates": [
            {
                "name": "main",
                "dag": {
                    "tasks": [
                        {"name": "a", "template": "head"},
                        {"name": "b", "template": "worker"},
                        {"name": "c", "template": "add", "depends": "a && b",
                         "arguments": {"parameters": [
                             {"name": "x", "value": "{{tasks.a.outputs.parameters.n}}"},
                             {"name": "y", "value": "{{tasks.b.outputs.parameters.n}}"},
                         ]}},
                    ]
                },
            },
            {
                "name": "head",
                "metadata": _on("head_slot"),
                "container": {"image": "busybox", "command": ["sh", "-c"],
                              "args": ["echo -n 2 > /tmp/n; echo on head; echo to-stderr >&2"]},
                "outputs": {"parameters": [{"name": "n", "valueFrom": {"path": "/tmp/n"}}]},
            },
            {
                "name": "worker",
                "metadata": _on("worker_slot"),
                "container": {"image": "busybox", "command": ["sh", "-c"],
                              "args": ["echo -n 3 > /tmp/n; echo on worker"]},
                "outputs": {"parameters": [{"name": "n", "valueFrom": {"path": "/tmp/n"}}]},
            },
            {
                "name": "add",
                "metadata": {"annotations": {"workflows.dockyard.io/ray-num-cpus": "0.5"}},
                "inputs": {"parameters": [{"name": "x"}, {"name": "y"}]},
                "script": {"image": "python:3.12", "command": ["python"],
                           "source": "print({{inputs.parameters.x}} + {{inputs.parameters.y}})"},
            },
        ],
    },
}  # fmt: skip


def test_steps_spread_over_two_ray_nodes(ray_plane: BackgroundControlPlane) -> None:
    headers = {"Authorization": f"Bearer {ray_plane.cp.token}"}
    with httpx.Client(base_url=ray_plane.url, headers=headers, timeout=30) as http:
        created = http.post("/api/v1/workflows/default", json={"workflow": WORKFLOW})
        assert created.status_code == 200, created.text
        name = created.json()["metadata"]["name"]
        deadline = time.monotonic() + 150
        while True:
            workflow = http.get(f"/api/v1/workflows/default/{name}").json()
            if (workflow.get("status") or {}).get("finishedAt"):
                break
            assert time.monotonic() < deadline, workflow.get("status")
            time.sleep(0.5)
        assert workflow["status"]["phase"] == "Succeeded", workflow["status"]
        pods = {
            n["displayName"]: n for n in workflow["status"]["nodes"].values() if n["type"] == "Pod"
        }
        assert pods["a"]["outputs"]["parameters"][0]["value"] == "2"
        assert pods["b"]["outputs"]["parameters"][0]["value"] == "3"
        assert pods["c"]["outputs"]["result"] == "5"
        hosts = {d: pods[d]["hostNodeName"] for d in ("a", "b")}
        assert all(h.startswith("ray-") for h in hosts.values())
        assert hosts["a"] != hosts["b"], hosts  # one step on each Ray node
        logs = http.get(f"/api/v1/workflows/default/{name}/log").text
        assert "on head" in logs and "to-stderr" in logs and "on worker" in logs
