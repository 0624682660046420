"""Killing and removing a Pod cgroup on a real cgroup2 mount (the v2 driver's kill path).

Runs wherever a cgroup2 hierarchy is mounted and writable, including hybrid hosts where it has
no controllers: cgroup.procs, cgroup.kill and rmdir behave the same there.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from dockyard.node.sandbox._cgroups import PodCgroup


def cgroup2_mount() -> Path | None:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        if right.split()[:1] == ["cgroup2"]:
            mount = Path(left.split()[4])
            if os.access(mount, os.W_OK):
                return mount
    return None


MOUNT = cgroup2_mount()
pytestmark = pytest.mark.skipif(MOUNT is None, reason="no writable cgroup2 mount")


def test_kill_all_empties_a_v2_cgroup_and_remove_deletes_it() -> None:
    assert MOUNT is not None
    leaf = MOUNT / f"dockyard-test-{uuid.uuid4().hex[:8]}"
    leaf.mkdir()
    # The shell waits on stdin until it is in the cgroup, so its children start inside too.
    proc = subprocess.Popen(
        ["sh", "-c", "read _; sleep 100 & sleep 100 & wait"], stdin=subprocess.PIPE
    )
    try:
        (leaf / "cgroup.procs").write_text(str(proc.pid))
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        proc.stdin.close()
        cgroup = PodCgroup(
            driver="v2",
            dirs=[leaf],
            procs_files=[leaf / "cgroup.procs"],
            kill_file=leaf / "cgroup.kill",
        )
        deadline = time.monotonic() + 5
        while len(cgroup.pids()) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        members = cgroup.pids()
        assert proc.pid in members and len(members) == 3

        assert cgroup.kill_all()

        assert proc.wait(timeout=5) == -9
        assert cgroup.pids() == []
        assert cgroup.remove()
        assert not leaf.exists()
    finally:
        proc.kill()
        proc.wait()
        if leaf.exists():
            leaf.rmdir()
