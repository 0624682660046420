"""Start and stop the processes a benchmark compares: engine fleets and routers.

Serving layer. Every process gets its own port, logs to a file under the run's log
directory, and is stopped with SIGTERM (SIGKILL after 5 s). Peers are the real
``sglang-router`` and ``vllm-router`` executables from PyPI, found next to the running
Python or on PATH; a peer that is not installed is reported, not faked.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from dockyard._ports import free_port as free_port


@dataclass(frozen=True)
class RouterSpec:
    """One router under test: ``router`` is ``dockyard`` or a peer's name."""

    router: str
    policy: str

    @property
    def label(self) -> str:
        return f"{self.router}:{self.policy}"


def find_executable(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


def peer_available(router: str) -> bool:
    return router == "dockyard" or find_executable(router) is not None


class Process:
    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.log_path = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


def wait_http(url: str, proc: Process, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise RuntimeError(f"{proc.argv[0]} exited; see {proc.log_path}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s; see {proc.log_path}")


def _python_env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


class Fleet:
    """``engines`` emulated engines, one process each."""

    def __init__(
        self,
        engines: int,
        kv_blocks: int,
        time_scale: float,
        logs: Path,
        profile: str = "h100-llama2-7b",
        extra: list[str] | None = None,
    ) -> None:
        self.urls: list[str] = []
        self.procs: list[Process] = []
        env = _python_env()
        for i in range(engines):
            port = free_port()
            argv = [
                sys.executable,
                "-m",
                "dockyard.serving.engine",
                "--port",
                str(port),
                "--kv-blocks",
                str(kv_blocks),
                "--time-scale",
                str(time_scale),
                "--profile",
                profile,
                *(extra or []),
            ]
            self.procs.append(Process(argv, logs / f"engine-{i}.log", env))
            self.urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(self.urls, self.procs, strict=True):
            wait_http(url + "/health", proc)

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()


def start_router(spec: RouterSpec, engines: list[str], logs: Path) -> tuple[Process, str]:
    """Launch ``spec`` in front of ``engines``; returns the process and its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = logs / f"router-{spec.router}-{spec.policy}.log"
    if spec.router == "dockyard":
        argv = [
            sys.executable,
            "-m",
            "dockyard.serving.gateway",
            "--port",
            str(port),
            "--policy",
            spec.policy,
        ]
        for engine in engines:
            argv += ["--engine", engine]
        proc = Process(argv, log, _python_env())
    else:
        exe = find_executable(spec.router)
        if exe is None:
            raise RuntimeError(f"{spec.router} is not installed")
        argv = [exe]
        if spec.router == "sglang-router":
            argv.append("launch")
        argv += [
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--policy",
            spec.policy,
            "--prometheus-port",
            str(free_port()),
            "--worker-urls",
            *engines,
        ]
        if spec.router == "sglang-router":
            argv += ["--log-level", "warn"]
        else:
            argv += ["--log-level", "warning"]
        env = dict(os.environ, HF_HUB_OFFLINE="1", RUST_LOG="warn")
        proc = Process(argv, log, env)
    wait_http(url + "/v1/models", proc, timeout=60)
    return proc, url
