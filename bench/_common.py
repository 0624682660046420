"""Shared helpers for Dockyard benchmarks: an embedded control plane, percentiles, and
JSON results under ``bench/results/``."""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dockyard.testing import DockyardUp, free_port  # noqa: F401  (re-exported for benches)

RESULTS = Path(__file__).parent / "results"

# The baseline sandbox: the same bubblewrap isolation a Pod gets (unprivileged user, read-only
# userland, fresh namespaces), running `true`, with no API, store or scheduler in the way.
BARE_SANDBOX_ARGV = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "bwrap",
    "--ro-bind",
    "/usr",
    "/usr",
    "--symlink",
    "usr/bin",
    "/bin",
    "--symlink",
    "usr/lib",
    "/lib",
    "--symlink",
    "usr/lib64",
    "/lib64",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--tmpfs",
    "/tmp",
    "--unshare-all",
    "--die-with-parent",
    "--new-session",
    "true",
]


@contextmanager
def control_plane(*args: str, files: dict[str, str] | None = None) -> Iterator[DockyardUp]:
    """``dockyard up`` in its own process (as users run it), on a free port, with a fresh
    data directory; stopped with SIGTERM afterwards. Extra ``args`` go to ``up``; ``files``
    (name → text) are written into the data directory first, e.g.
    ``workflow-controller.yaml``. The yielded object has ``url``, ``token`` and
    ``data_dir``."""
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-") as data_dir:
        os.chmod(data_dir, 0o711)
        for name, text in (files or {}).items():
            (Path(data_dir) / name).write_text(text)
        plane = DockyardUp(Path(data_dir), args=args)
        plane.start().close()
        try:
            yield plane
        finally:
            plane.terminate()


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {
        "n": len(ordered),
        "p50_ms": round(pick(0.50) * 1000, 2),
        "p90_ms": round(pick(0.90) * 1000, 2),
        "p99_ms": round(pick(0.99) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of one process (not its children), from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": name,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "kernel": platform.release(),
            # 1, 5 and 15 minute load averages when the result was written (other work on
            # the machine shows here).
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        **result,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return path
