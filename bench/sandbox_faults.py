"""Page faults per sandbox: what a sandbox forked by the node's nursery touches of the
zygote's memory (most of these faults are copy-on-write copies of its pages).

Creates sandboxes one at a time through the real `SandboxService` (no HTTP), and for each
reads the sandbox's first process's minor faults from /proc once it is ready and again
after it has run ``/bin/true``; the zygote's own faults are counted over the whole run
(after each fork it copies again every page it writes). Writes
``bench/results/sandbox_faults.json``.

    python bench/sandbox_faults.py [--sandboxes 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from _common import write_result

from dockyard.sandbox import SandboxService
from dockyard.store import ObjectStore


def minor_faults(pid: int) -> int:
    """minflt of one process, from /proc (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return 0
    return int(fields[7])


def parent_pid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rpartition(")")[2].split()[1])


async def measure(root: Path, sandboxes: int) -> dict[str, float]:
    store = ObjectStore(root / "state.db")
    service = SandboxService(store, root)
    await service.start()
    try:
        first = await service.create("bench", "base")  # starts the nursery
        assert first.box is not None
        zygote = parent_pid(first.box.pid)  # every sandbox is the zygote's child
        await service.kill("bench", first.sandbox_id)
        zygote_before = minor_faults(zygote)
        ready, after_command = [], []
        for _ in range(sandboxes):
            record = await service.create("bench", "base")
            assert record.box is not None
            ready.append(minor_faults(record.box.pid))
            async for _ in record.client.stream("exec", cmd="/bin/true"):
                pass
            after_command.append(minor_faults(record.box.pid))
            await service.kill("bench", record.sandbox_id)
        zygote_faults = (minor_faults(zygote) - zygote_before) / sandboxes
    finally:
        for record in list(service.records.values()):
            await service.kill("bench", record.sandbox_id)
        await service.stop()
        store.close()
    sandbox_faults = statistics.median(after_command)
    return {
        "sandboxes": sandboxes,
        "sandbox_faults_when_ready": statistics.median(ready),
        "sandbox_faults_after_a_command": sandbox_faults,
        "zygote_faults_per_fork": round(zygote_faults, 1),
        "faults_per_sandbox": round(sandbox_faults + zygote_faults, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sandboxes", type=int, default=50)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dockyard-bench-", dir="/var/tmp"))
    os.chmod(root, 0o711)
    try:
        results = asyncio.run(measure(root, args.sandboxes))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    write_result("sandbox_faults", {"results": results})


if __name__ == "__main__":
    main()
