"""A self-signed certificate for ``dockyard up --tls``, generated once into the data dir."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def ensure_self_signed_cert(data_dir: Path, host: str) -> tuple[Path, Path]:
    cert, key = data_dir / "tls.crt", data_dir / "tls.key"
    if cert.exists() and key.exists():
        return cert, key
    san = (
        f"DNS:localhost,IP:127.0.0.1,IP:{host}"
        if host[0].isdigit()
        else f"DNS:localhost,DNS:{host},IP:127.0.0.1"
    )
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "825",
            "-subj",
            "/CN=dockyard",
            "-addext",
            f"subjectAltName={san}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    os.chmod(key, 0o600)
    return cert, key
