"""`dockyard sandbox bench`: the agent-sandbox numbers, measured on this node against the
real runtime (`SandboxService` over a real store; no HTTP), written as JSON.

Measures: warm-pool create and cold create latency (at the service), pause -> resume,
hibernate + wake with a given amount of Python state restored, a snapshot of that state
and sandboxes started (and forked) from it, the same for a sandbox holding one small file, cold creates of sandboxes that mount a
volume, sustained creations per
second (concurrent clients, each creating a sandbox, running a command in it and killing
it, while the pool refills), and idle memory per sandbox with many sandboxes alive at once
(bounded by the memory the node has available).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from dockyard.node.registration import node_configs
from dockyard.sandbox._kinds import NAMESPACE, WARM_POOL
from dockyard.sandbox._service import Record, SandboxService
from dockyard.scheduler.default import DefaultScheduler
from dockyard.store import ObjectStore, format_time, utc_now

TENANT = "bench"
#: The idle run stops adding sandboxes when the node has less memory available than this.
_MEMORY_RESERVE = 2 << 30


def _mem_available() -> int:
    """MemAvailable from /proc/meminfo, in bytes."""
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def _tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system, with reaped children) of `root` and every process below
    it: for the nursery, every sandbox it forked and what ran in them."""
    procs: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                data = stat.read()
        except OSError:
            continue
        fields = data[data.rindex(")") + 2 :].split()
        procs[int(entry.name)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))
    total = 0
    for pid, (_, ticks) in procs.items():
        walk = pid
        while walk in procs and walk != root:
            walk = procs[walk][0]
        if walk == root:
            total += ticks
    return total / os.sysconf("SC_CLK_TCK")


def _busy_seconds() -> float:
    """CPU time the whole machine spent busy (every process, not only this benchmark)."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


def _summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50_ms": _pct(values, 0.5), "p99_ms": _pct(values, 0.99),
            "mean_ms": round(statistics.fmean(values) * 1000, 2)}  # fmt: skip


async def _first_execute_ok(record: Record, state_mb: int) -> bool:
    """Whether the sandbox's default context has the benchmark's `blob` of state_mb MiB."""
    check = [m async for m in record.client.stream("execute", code="len(blob)")]
    return any(m.get("text") == str(state_mb << 20) for m in check)


async def _snapshot_and_fork(
    service: SandboxService, source: Record, state_mb: int
) -> dict[str, Any]:
    """Snapshot a sandbox holding `state_mb` MiB of Python state, start one sandbox from the
    snapshot, and fork it four times; each copy is timed up to its first execute that finds
    the state."""
    t = time.perf_counter()
    snapshot = await service.snapshot(TENANT, source.sandbox_id)
    t_s = time.perf_counter()
    copy = await service.create(TENANT, snapshot.snapshot_id)
    restored = await _first_execute_ok(copy, state_mb)
    t_c = time.perf_counter()
    forks = await service.fork(TENANT, source.sandbox_id, count=4)
    started = [f for f in forks if isinstance(f, Record)]
    checks = await asyncio.gather(*(_first_execute_ok(f, state_mb) for f in started))
    t_f = time.perf_counter()
    for record in (copy, *started):
        await service.kill(TENANT, record.sandbox_id)
    service.delete_snapshot(TENANT, snapshot.snapshot_id)
    return {"state_mb": state_mb, "archive_mb": round(snapshot.size_bytes / (1 << 20), 1),
            "snapshot_ms": round((t_s - t) * 1000, 1),
            "create_from_snapshot_and_first_execute_ms": round((t_c - t_s) * 1000, 1),
            "fork_4_and_first_executes_ms": round((t_f - t_c) * 1000, 1),
            "restored": restored and len(started) == 4 and all(checks)}  # fmt: skip


async def _small_snapshot_and_fork(service: SandboxService, samples: int) -> dict[str, Any]:
    """A sandbox holding one small file: snapshots of it, sandboxes started from a snapshot
    (to a created sandbox), and forks of one copy, each timed `samples` times."""
    source = await service.create(TENANT, "base")
    await source.client.write_file("/home/user/notes.txt", b"x" * 1024)
    snapshots, creates, forks = [], [], []
    try:
        for _ in range(samples):
            t = time.perf_counter()
            snapshot = await service.snapshot(TENANT, source.sandbox_id, name="small")
            snapshots.append(time.perf_counter() - t)
            t = time.perf_counter()
            copy = await service.create(TENANT, snapshot.snapshot_id)
            creates.append(time.perf_counter() - t)
            await service.kill(TENANT, copy.sandbox_id)
            t = time.perf_counter()
            (fork,) = await service.fork(TENANT, source.sandbox_id)
            forks.append(time.perf_counter() - t)
            if isinstance(fork, Record):
                await service.kill(TENANT, fork.sandbox_id)
    finally:
        await service.kill(TENANT, source.sandbox_id)
        service.delete_snapshot(TENANT, "small")
    return {"snapshot": _summary(snapshots), "create_from_snapshot": _summary(creates),
            "fork_one": _summary(forks)}  # fmt: skip


async def _create_with_volume(service: SandboxService, samples: int) -> dict[str, Any]:
    """Cold creates of sandboxes that mount a volume, each killed before the next: below
    the home and at /mnt/data (forked by the nursery), and at /srv/data (started through
    bubblewrap)."""
    volume = service.create_volume(TENANT, "bench")
    out: dict[str, Any] = {}
    try:
        for where in ("/home/user/data", "/mnt/data", "/srv/data"):
            times = []
            for _ in range(samples):
                t = time.perf_counter()
                record = await service.create(
                    TENANT, "base", volume_mounts=[{"name": volume.name, "path": where}]
                )
                times.append(time.perf_counter() - t)
                await service.kill(TENANT, record.sandbox_id)
            out[where] = _summary(times)
        await asyncio.sleep(0.5)  # the kills' clean-ups, before the volume goes
    finally:
        await service.delete_volume(TENANT, volume.volume_id)
    return out


async def _run(
    root: Path, samples: int, pool: int, seconds: float, idle: int, state_mb: int, workers: int
) -> dict[str, Any]:
    store = ObjectStore(root / "state.db")
    # This node, registered as the node agent does, and the platform's scheduler: cold
    # starts and pool refills are placed through it, as under `dockyard up`.
    for config in node_configs():
        store.create("v1/Node", config.to_object(format_time(utc_now())))
    scheduler = DefaultScheduler(store)
    await scheduler.start()
    while not scheduler.cluster.nodes:
        await asyncio.sleep(0.01)
    service = SandboxService(store, root, placement=scheduler)
    await service.start()
    results: dict[str, Any] = {}
    try:
        cold = []
        for _ in range(samples):
            t = time.perf_counter()
            record = await service.create(TENANT, "base")
            cold.append(time.perf_counter() - t)
            await service.kill(TENANT, record.sandbox_id)
        results["cold_create"] = _summary(cold)

        store.create(WARM_POOL, {"apiVersion": "agents.x-k8s.io/v1alpha1", "kind": "SandboxWarmPool",
                                 "metadata": {"name": "bench", "namespace": NAMESPACE},
                                 "spec": {"replicas": pool, "templateRef": {"name": "base"}}})  # fmt: skip
        warm = []
        for _ in range(samples):
            await service.fill_pools()
            t = time.perf_counter()
            record = await service.create(TENANT, "base")
            warm.append(time.perf_counter() - t)
            await service.kill(TENANT, record.sandbox_id)
        results["warm_create"] = _summary(warm)

        record = await service.create(TENANT, "base")
        cycle = []
        for _ in range(samples):
            t = time.perf_counter()
            await service.pause(TENANT, record.sandbox_id)
            await service.resume(TENANT, record.sandbox_id, None)
            cycle.append(time.perf_counter() - t)
        results["pause_resume"] = _summary(cycle)

        code = f"blob = bytes({state_mb} << 20)\nitems = list(range(1000))"
        async for _ in record.client.stream("execute", code=code):
            pass
        t = time.perf_counter()
        await service.hibernate(TENANT, record.sandbox_id)
        t_h = time.perf_counter()
        await service.resume(TENANT, record.sandbox_id, None)
        check = [m async for m in record.client.stream("execute", code="len(blob)")]
        t_w = time.perf_counter()
        restored = any(m.get("text") == str(state_mb << 20) for m in check)
        results["hibernate_wake"] = {"state_mb": state_mb, "hibernate_ms": round((t_h - t) * 1000, 1),
                                     "wake_and_first_execute_ms": round((t_w - t_h) * 1000, 1),
                                     "total_ms": round((t_w - t) * 1000, 1), "restored": restored}  # fmt: skip
        results["snapshot_fork"] = await _snapshot_and_fork(service, record, state_mb)
        results["create_with_volume"] = await _create_with_volume(service, samples)
        results["small_snapshot_fork"] = await _small_snapshot_and_fork(service, samples)
        await service.kill(TENANT, record.sandbox_id)

        await service.fill_pools()
        done = 0
        nursery = service.nursery.box.pid if service.nursery is not None else os.getpid()
        cpu0 = (_own_cpu_seconds(), _tree_cpu_seconds(nursery), _busy_seconds())
        load0 = os.getloadavg()
        t0 = time.perf_counter()

        async def client() -> None:
            # One agent after another: create, run a command, kill.
            nonlocal done
            while time.perf_counter() - t0 < seconds:
                record = await service.create(TENANT, "base")
                async for _ in record.client.stream("exec", cmd="/bin/true"):
                    pass
                await service.kill(TENANT, record.sandbox_id)
                done += 1

        await asyncio.gather(*(client() for _ in range(workers)))
        elapsed = time.perf_counter() - t0
        own, tree, busy = (_own_cpu_seconds() - cpu0[0], _tree_cpu_seconds(nursery) - cpu0[1],
                           _busy_seconds() - cpu0[2])  # fmt: skip
        per = 1000 / max(1, done)
        results["elasticity"] = {"seconds": round(elapsed, 1), "sandboxes": done,
                                 "per_second": round(done / elapsed, 1), "warm_pool": pool,
                                 "concurrent_clients": workers,
                                 # CPU per sandbox: the control plane with the in-process
                                 # clients (the load generator), and the nursery with every
                                 # sandbox and command; the machine's busy time includes
                                 # whatever else ran meanwhile.
                                 "cpu_ms_per_sandbox": {
                                     "control_plane_and_clients": round(own * per, 2),
                                     "sandboxes_and_nursery": round(tree * per, 2),
                                     "machine_busy": round(busy * per, 2)},
                                 "load_average_before": [round(x, 2) for x in load0],
                                 "load_average_after": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip

        store.delete(WARM_POOL, NAMESPACE, "bench")
        alive = []
        available_before = _mem_available()
        t0 = time.perf_counter()
        for _ in range(idle):
            if _mem_available() < _MEMORY_RESERVE:
                break  # bounded: the node keeps room for everything else
            alive.append(await service.create(TENANT, "base"))
        started_s = time.perf_counter() - t0
        await asyncio.sleep(1.0)
        memory = [r.box.memory_bytes() or 0 for r in alive if r.box is not None]
        host = (available_before - _mem_available()) / max(1, len(alive))
        results["idle"] = {"sandboxes": len(alive), "requested": idle,
                           "all_alive": all(r.box is not None and r.box.alive() for r in alive),
                           "started_in_s": round(started_s, 1),
                           "memory_per_sandbox_mib": round(statistics.fmean(memory) / (1 << 20), 2),
                           "memory_total_mib": round(sum(memory) / (1 << 20), 1),
                           "host_memory_per_sandbox_mib": round(host / (1 << 20), 2)}  # fmt: skip
        for record in alive:
            await service.kill(TENANT, record.sandbox_id)
    finally:
        for record in list(service.records.values()):
            await service.kill(TENANT, record.sandbox_id)
        await service.stop()
        await scheduler.stop()
        store.close()
    return results


def run_bench(out: Path, samples: int = 50, pool: int = 8, seconds: float = 20.0,
              idle: int = 100, state_mb: int = 50, workers: int = 4) -> dict[str, Any]:  # fmt: skip
    """Run every measurement and write the JSON to `out`; returns it."""
    base = Path(tempfile.mkdtemp(prefix="dockyard-bench-", dir="/var/tmp"))
    os.chmod(base, 0o711)
    try:
        results = asyncio.run(_run(base, samples, pool, seconds, idle, state_mb, workers))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    report = {"benchmark": "sandbox", "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
              "params": {"samples": samples, "pool": pool, "seconds": seconds, "idle": idle,
                         "workers": workers},
              "results": results}  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return report
