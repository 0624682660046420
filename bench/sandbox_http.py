"""Sandbox elasticity over the E2B HTTP API: ``dockyard up`` in its own process, clients in
this one, each creating a sandbox (``POST /sandboxes``), running ``/bin/true`` in it
through envd's Connect ``process.Process/Start`` and killing it (``DELETE``), while a warm
pool refills.

Reports sandboxes per second and CPU per sandbox of the server process, of the nursery's
process tree (every sandbox and command) and of this process (the load generator: plain
``http.client`` on kept-alive connections, to keep its share small), with the load average
before and after. ``dockyard bench sandbox`` measures the same cycle without HTTP.

    python bench/sandbox_http.py --seconds 60 --workers 4 --pool 8
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import struct
import threading
import time
from pathlib import Path

from _common import control_plane, process_cpu_seconds, write_result

from dockyard.sandbox._bench import _own_cpu_seconds, _tree_cpu_seconds

KEY = "e2b_" + "0" * 40  # any well-formed key with --no-auth
START = json.dumps({"process": {"cmd": "/bin/true", "args": []}, "stdin": False}).encode()
FRAMED_START = struct.pack(">BI", 0, len(START)) + START


def _nursery_pid(data_dir: Path) -> int:
    for box in [data_dir / "sandbox/nursery/box.json", *Path("/var/lib/dockyard").glob(
            "*/sandbox/nursery/box.json")]:  # fmt: skip
        if box.exists() and str(data_dir) in box.read_text() + str(box):
            return int(json.loads(box.read_text())["pid"])
    raise RuntimeError("the sandbox nursery is not running")


def _cycle(conn: http.client.HTTPConnection) -> None:
    conn.request("POST", "/sandboxes", json.dumps({"templateID": "base"}),
                 {"X-API-Key": KEY, "Content-Type": "application/json"})  # fmt: skip
    reply = conn.getresponse()
    created = json.loads(reply.read())
    if reply.status != 201:
        raise RuntimeError(f"create: {reply.status} {created}")
    sandbox = created["sandboxID"]
    conn.request("POST", "/process.Process/Start", FRAMED_START, {
        "E2b-Sandbox-Id": sandbox, "E2b-Sandbox-Port": "49983",
        "X-Access-Token": created["envdAccessToken"],
        "Content-Type": "application/connect+json", "Connect-Protocol-Version": "1"})  # fmt: skip
    reply = conn.getresponse()
    if reply.status != 200 or b'"exitCode"' not in reply.read():
        raise RuntimeError(f"command: {reply.status}")
    conn.request("DELETE", f"/sandboxes/{sandbox}", headers={"X-API-Key": KEY})
    reply = conn.getresponse()
    reply.read()
    if reply.status != 204:
        raise RuntimeError(f"kill: {reply.status}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--pool", type=int, default=8)
    args = parser.parse_args()
    with control_plane("--no-auth") as plane:
        admin = http.client.HTTPConnection("127.0.0.1", plane.port)
        pool = {"apiVersion": "agents.x-k8s.io/v1alpha1", "kind": "SandboxWarmPool",
                "metadata": {"name": "bench", "namespace": "default"},
                "spec": {"replicas": args.pool, "templateRef": {"name": "base"}}}  # fmt: skip
        admin.request("POST", "/apis/agents.x-k8s.io/v1alpha1/namespaces/default/sandboxwarmpools",
                      json.dumps(pool), {"Content-Type": "application/json"})  # fmt: skip
        reply = admin.getresponse()
        if reply.status != 201:
            raise RuntimeError(f"warm pool: {reply.status} {reply.read()!r}")
        reply.read()
        time.sleep(3)  # the pool fills
        server = plane.proc.pid if plane.proc is not None else 0
        nursery = _nursery_pid(plane.data_dir)
        done = [0] * args.workers
        load0 = os.getloadavg()
        cpu0 = (process_cpu_seconds(server), _tree_cpu_seconds(nursery), _own_cpu_seconds())
        t0 = time.perf_counter()

        def client(i: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", plane.port, timeout=30)
            while time.perf_counter() - t0 < args.seconds:
                _cycle(conn)
                done[i] += 1
            conn.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - t0
        cpu = (process_cpu_seconds(server) - cpu0[0], _tree_cpu_seconds(nursery) - cpu0[1],
               _own_cpu_seconds() - cpu0[2])  # fmt: skip
    total = sum(done)
    per = 1000 / max(1, total)
    write_result("sandbox_http", {
        "params": vars(args),
        "results": {"seconds": round(elapsed, 1), "sandboxes": total,
                    "per_second": round(total / elapsed, 1),
                    "cpu_ms_per_sandbox": {"server": round(cpu[0] * per, 2),
                                           "sandboxes_and_nursery": round(cpu[1] * per, 2),
                                           "load_generator": round(cpu[2] * per, 2)},
                    "load_average_before": [round(x, 2) for x in load0],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]}})  # fmt: skip


if __name__ == "__main__":
    main()
