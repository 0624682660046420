"""Profile the control plane while the workflow-throughput workload runs.

The plane runs in-process (``BackgroundControlPlane``) so yappi sees the controllers;
prints the hottest functions by own and cumulative CPU time.

Run: ``python bench/profile_workflows.py [--workflows 300]`` (needs ``yappi``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pstats
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import workflow_throughput
import yappi
from _common import free_port

from dockyard.server import BackgroundControlPlane, ControlPlaneConfig


@contextlib.contextmanager
def in_process_plane() -> Iterator[SimpleNamespace]:
    """The control plane in this process (so the profiler sees it), shaped like
    ``_common.control_plane``'s value: ``url``, ``token``, ``data_dir``, ``proc.pid``."""
    with tempfile.TemporaryDirectory(prefix="dockyard-profile-") as data_dir:
        os.chmod(data_dir, 0o711)
        config = ControlPlaneConfig(host="127.0.0.1", port=free_port(), data_dir=Path(data_dir))
        with BackgroundControlPlane(config) as plane:
            yield SimpleNamespace(
                url=plane.url,
                token=plane.cp.token,
                data_dir=Path(data_dir),
                proc=SimpleNamespace(pid=os.getpid()),
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--workflows", type=int, default=300)
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "workflows.pstat"))
    args = parser.parse_args()
    workflow_throughput.control_plane = in_process_plane  # type: ignore[assignment]
    yappi.set_clock_type("cpu")
    yappi.start()
    print(asyncio.run(workflow_throughput.run(args.workflows, 16)))
    yappi.stop()
    yappi.get_func_stats().save(args.out, type="pstat")
    stats = pstats.Stats(args.out)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats("dockyard", 40)
