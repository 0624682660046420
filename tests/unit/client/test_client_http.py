"""The SDK over real loopback sockets: streams that stay open, and refused connections.

The fake API ends every watch at once; a real server holds a watch open while nothing
changes. These tests serve such silent streams from a stdlib HTTP server in a thread, to
check that ``watch(timeout=...)`` and ``wait_for`` give up on time rather than hang.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fake_api import KINDS
from sdk_driver import Driver

from dockyard.client import ServerUnreachableError, WaitTimeoutError

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "resourceVersion": "7"},
       "status": {"phase": "Running"}}  # fmt: skip


class SilentWatchHandler(BaseHTTPRequestHandler):
    """Discovery and a one-Pod list; a watch sends one event and then says nothing."""

    protocol_version = "HTTP/1.0"  # close-delimited bodies: the stream ends only on close

    def do_GET(self) -> None:
        if self.path == "/api/kinds":
            self._json({"kinds": KINDS})
        elif "watch=true" in self.path:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.end_headers()
            self.wfile.write((json.dumps({"type": "MODIFIED", "object": POD}) + "\n").encode())
            self.wfile.flush()
            time.sleep(5)  # hold the stream open, silent
        else:
            self._json({"kind": "PodList", "metadata": {"resourceVersion": "7"}, "items": [POD]})

    def _json(self, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def silent_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SilentWatchHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def real_driver(flavour: str, server: str) -> Driver:
    return Driver(flavour, None, server=server, data_dir="/nonexistent")


def test_watch_timeout_ends_a_silent_stream(flavour: str, silent_server: str) -> None:
    driver = real_driver(flavour, silent_server)
    try:
        events = driver.collect("watch", "pods", resource_version="1", timeout=0.5)
    finally:
        driver.close()

    assert [(e.type, e.name) for e in events] == [("MODIFIED", "p")]


def test_wait_for_times_out_on_a_silent_stream(flavour: str, silent_server: str) -> None:
    driver = real_driver(flavour, silent_server)
    try:
        with pytest.raises(WaitTimeoutError, match="phase is Running"):
            driver("wait_for", "pod", "p", phase="Succeeded", timeout=0.5)
    finally:
        driver.close()


def test_refused_connection(flavour: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    driver = real_driver(flavour, f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(ServerUnreachableError):
            driver("version")
    finally:
        driver.close()
