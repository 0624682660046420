"""``dockyard up --tls --port P`` serves the Argo API over HTTPS with the certificate it
generates; a client that trusts exactly that certificate submits and reads a workflow."""

from __future__ import annotations

import ssl
import subprocess
import time
from pathlib import Path

import httpx

from dockyard.testing import free_port
from dockyard.testing.process import DOCKYARD

HELLO = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"generateName": "tls-hello-"},
    "spec": {
        "entrypoint": "main",
        "templates": [
            {"name": "main", "container": {"image": "busybox", "command": ["echo", "over tls"]}}
        ],
    },
}


def test_argo_api_over_https_with_the_generated_certificate(open_tmp: Path) -> None:
    data_dir = open_tmp / "data"
    data_dir.mkdir()
    port = free_port()
    with open(data_dir / "up.log", "ab") as log:
        proc = subprocess.Popen(
            [DOCKYARD, "up", "--tls", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
    try:
        cert = data_dir / "tls.crt"
        deadline = time.monotonic() + 60
        while not (cert.exists() and (data_dir / "token").exists()):
            assert proc.poll() is None and time.monotonic() < deadline, (
                data_dir / "up.log"
            ).read_text()
            time.sleep(0.05)
        trust = ssl.create_default_context(cafile=str(cert))
        token = (data_dir / "token").read_text().strip()
        url = f"https://127.0.0.1:{port}"
        with httpx.Client(
            base_url=url, verify=trust, headers={"Authorization": f"Bearer {token}"}
        ) as client:
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
            created = client.post("/api/v1/workflows/argo", json={"workflow": HELLO})
            assert created.status_code == 200, created.text
            name = created.json()["metadata"]["name"]
            assert name.startswith("tls-hello-")
            while True:
                got = client.get(f"/api/v1/workflows/argo/{name}").json()
                if got["status"].get("finishedAt") or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert got["status"]["phase"] == "Succeeded"
            [pod] = [n for n in got["status"]["nodes"].values() if n["type"] == "Pod"]
            assert pod["outputs"]["result"] == "over tls"
            listed = client.get("/api/v1/workflows/argo").json()
            assert [w["metadata"]["name"] for w in listed["items"]] == [name]
        # Plain HTTP on the same port is not served, and an untrusting client is refused.
        try:
            plain_ok = httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
        except httpx.TransportError:
            plain_ok = False
        assert not plain_ok
        try:
            httpx.get(f"{url}/readyz")
            untrusted_accepted = True
        except httpx.ConnectError:
            untrusted_accepted = False
        assert not untrusted_accepted
    finally:
        proc.terminate()
        proc.wait(timeout=60)
