"""Adopting a recorded sandbox whose first process is gone: its cgroup is cleaned up, and
the recorded pid, which may belong to an unrelated process by now, is never signalled."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from dockyard.node.sandbox.isolation import (
    SandboxLimits,
    cgroup_driver,
    create_pod_cgroup,
    process_start_time,
)
from dockyard.sandbox.runtime._box import Box

pytestmark = pytest.mark.skipif(cgroup_driver() == "none", reason="cgroups not writable")


def test_adopt_of_an_ended_sandbox_leaves_a_reused_pid_alone() -> None:
    # An unrelated process that leads its own process group: the pid (and so the process
    # group) a stale record names once the sandbox's own process is gone and reused.
    bystander = subprocess.Popen(["sleep", "60"], start_new_session=True)
    cgroup = create_pod_cgroup(
        "test-adopt-stale", SandboxLimits(64 << 20, 500, 16, 1 << 20), cgroup_driver()
    )
    try:
        with tempfile.TemporaryDirectory() as state:
            record = {
                "pid": bystander.pid,
                "start_time": process_start_time(bystander.pid) + 1,  # another process
                "cgroup": cgroup.to_json(),
            }
            (Path(state) / "box.json").write_text(json.dumps(record))

            assert Box.adopt(Path(state)) is None

        assert bystander.poll() is None, "the unrelated process was signalled"
        assert not any(Path(d).exists() for d in record["cgroup"]["dirs"])
    finally:
        bystander.kill()
        bystander.wait()
        cgroup.remove()
