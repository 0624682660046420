"""``dockyard up`` as a real child process, for tests and benchmarks that need the control
plane exactly as users run it (and kill it)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from dockyard._ports import free_port as free_port

DOCKYARD = str(Path(sys.executable).parent / "dockyard")


class DockyardUp:
    """One ``dockyard up --port P --data-dir D [args]`` process; restartable on the same
    data directory and port. Its stderr is appended to ``<data-dir>/up.log``."""

    def __init__(self, data_dir: Path, port: int | None = None, args: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return (self.data_dir / "token").read_text().strip()

    def start(self, timeout: float = 60.0) -> httpx.Client:
        """Start and wait for ``/readyz``; returns a client carrying the token."""
        with open(self.data_dir / "up.log", "ab") as log:
            self.proc = subprocess.Popen(
                [
                    DOCKYARD,
                    "up",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                    *self.args,
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log_text = (self.data_dir / "up.log").read_text()[-2000:]
                raise RuntimeError(f"dockyard up did not become ready:\n{log_text}")
            time.sleep(0.05)
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self) -> int:
        """SIGTERM (a clean stop); returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
