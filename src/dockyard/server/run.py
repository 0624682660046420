"""Running the control plane in the foreground (``dockyard up``) or in a background thread
(``dockyard demo``, tests)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

import uvicorn

from dockyard.server.app import create_app
from dockyard.server.config import ControlPlaneConfig
from dockyard.server.controlplane import ControlPlane
from dockyard.server.tls import ensure_self_signed_cert


class JsonFormatter(logging.Formatter):
    """One JSON object per log line: time, level, logger, message and any extras."""

    _RESERVED = set(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._RESERVED and key not in ("message", "asctime"):
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("dockyard")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def _uvicorn_config(cp: ControlPlane, config: ControlPlaneConfig) -> uvicorn.Config:
    kwargs: dict[str, Any] = {}
    if config.tls:
        cert, key = ensure_self_signed_cert(cp.data_dir, config.host)
        kwargs.update(ssl_certfile=str(cert), ssl_keyfile=str(key))
    return uvicorn.Config(
        create_app(cp),
        host=config.host,
        port=config.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=3,
        **kwargs,
    )


@contextlib.contextmanager
def _stop_on_signals(server: uvicorn.Server) -> Iterator[None]:
    """SIGINT/SIGTERM ask the server to shut down gracefully (a second one forces it);
    unlike uvicorn's default, the signal is not re-raised, so a clean stop exits 0."""

    def handle(signum: int, frame: FrameType | None) -> None:
        if server.should_exit:
            server.force_exit = True
        server.should_exit = True

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_control_plane(config: ControlPlaneConfig) -> None:
    """Serve until SIGINT/SIGTERM, then stop Pods and exit cleanly."""
    configure_logging(config.log_level)
    cp = ControlPlane(config)
    server = uvicorn.Server(_uvicorn_config(cp, config))
    server.capture_signals = lambda: _stop_on_signals(server)  # type: ignore[method-assign]
    server.run()
    if not server.started:
        raise SystemExit(1)


class BackgroundControlPlane:
    """A control plane serving from a daemon thread: ``with BackgroundControlPlane(cfg) as cp``."""

    def __init__(self, config: ControlPlaneConfig) -> None:
        self.config = config
        self.cp = ControlPlane(config)
        self._server = uvicorn.Server(_uvicorn_config(self.cp, config))
        self._thread = threading.Thread(
            target=self._run, name="dockyard-control-plane", daemon=True
        )
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve())
        except BaseException as exc:  # surfaced to the starting thread
            self.error = exc

    @property
    def url(self) -> str:
        scheme = "https" if self.config.tls else "http"
        return f"{scheme}://{self.config.host}:{self.config.port}"

    def start(self, timeout: float = 30.0) -> BackgroundControlPlane:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not (self._server.started and self.cp.ready):
            if self.error is not None or not self._thread.is_alive():
                raise RuntimeError(f"control plane failed to start: {self.error}")
            if time.monotonic() > deadline:
                raise TimeoutError("control plane did not become ready in time")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)

    def __enter__(self) -> BackgroundControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
