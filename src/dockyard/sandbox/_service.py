"""`SandboxService`: the life of every agent sandbox on this control plane.

Sandbox feature. The E2B API, the SandboxClaim controller, the CLI's benchmark and the demo
all go through this one object. It keeps one `Record` per sandbox in memory (for the hot
paths) and mirrors each state change into a Sandbox object in the store (for listing,
tenancy and restarts). State machine (`Phase`)::

    Pooled ──claim──▶ Running ◀──resume── Paused
       (warm pool)      │  ▲  └──pause───▶   │
    cold create ───────▶│  └────wake──── Hibernated ◀── hibernate (from Running or Paused)
                        └─ kill / timeout ──▶ (gone)

Each transition is a method that checks where it starts and raises `SandboxConflict`
otherwise. Pause freezes the sandbox's cgroup; hibernate snapshots the home directory, the
code contexts' globals and the history to disk, then kills the sandbox; wake starts a new
sandbox with the same id restored from that snapshot. Running and paused sandboxes outlive
the control plane and are adopted again by `start()`; hibernated ones only need their files.
Warm pools (`SandboxWarmPool`) are kept full by a background loop that also enforces
timeouts (kill, or pause when the sandbox asked for auto-pause); a claim starts its
replacement at once.

New sandboxes without network access are forked by the node's nursery (one zygote sandbox,
adopted across restarts like the sandboxes it forked, killed at `stop()` only when no
sandbox is left), woken ones, ones started from a snapshot and ones with volumes below
the home or in /mnt, /data or /workspace included; network sandboxes, ones with a volume
elsewhere, and every sandbox on a node where the nursery cannot run are started with
bubblewrap directly.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import logging
import os
import shutil
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.api.errors import AlreadyExistsError, NotFoundError
from dockyard.control import Placement, Unplaceable
from dockyard.node.paths import runtime_root, state_root
from dockyard.node.sandbox.isolation import SandboxError
from dockyard.sandbox._keys import new_access_token
from dockyard.sandbox._kinds import (
    API_VERSION,
    NAMESPACE,
    SANDBOX,
    TENANT_LABEL,
    WARM_POOL,
    Phase,
)
from dockyard.sandbox._metrics import (
    INTERVAL_SECONDS,
    Metric,
    MetricsHistory,
    Usage,
    cpu_baseline,
    read_usage,
)
from dockyard.sandbox._snapshots import Snapshot, SnapshotCatalog, check_name, new_snapshot_id
from dockyard.sandbox._templates import Shape, TemplateShapes
from dockyard.sandbox._times import from_iso, to_iso
from dockyard.sandbox._volumes import Mount, Volume, VolumeCatalog, mounts_from_objects
from dockyard.sandbox.runtime import (
    Box,
    BoxSpec,
    DaemonClient,
    DaemonError,
    NodeFiles,
    Nursery,
    prepare_node,
    remove_state_dir,
)
from dockyard.store import ObjectStore

log = logging.getLogger("dockyard.sandbox")

ENVD_VERSION = "0.6.0"
_READY_POLL_SECONDS = 0.002
_START_TIMEOUT_SECONDS = 20.0
_LOOP_SECONDS = 0.25
#: At most this many pool sandboxes start at once. A start spends most of its time
#: waiting for the kernel (namespace and cgroup set-up wait for RCU grace periods), not on
#: a CPU, so many overlap.
_REFILL_CONCURRENCY = 16
#: Threads for blocking sandbox work (starts, kills, clean-ups): enough for every refill
#: and as many clean-ups at once.
_WORKER_THREADS = 48
#: Most sandboxes one fork request starts (E2B's limit).
MAX_FORKS = 20
#: Most snapshots a tenant keeps (each is an archive on the control plane's disk).
MAX_SNAPSHOTS_PER_TENANT = 100
#: Room a snapshot archive gets beyond the sandbox's home quota and memory limit.
_ARCHIVE_SLACK_BYTES = 64 << 20
#: Longest a sandbox's copy (snapshot, fork, hibernation) may take; its lock is held meanwhile.
_COPY_TIMEOUT_SECONDS = 300.0


class SandboxConflict(Exception):
    """The sandbox is not in a state that allows the operation (HTTP 409)."""


class SandboxUnavailable(Exception):
    """The sandbox could not be started (HTTP 503 / 500)."""


class SandboxQuotaExceeded(Exception):
    """The tenant holds as much of something as it may (HTTP 429)."""


class SandboxUnschedulable(SandboxUnavailable):
    """No node can take the sandbox now; the message carries the scheduler's reasons."""


#: Where sandboxes run when the service has no scheduler to place them (tests, tools).
LOCAL_NODE = os.uname().nodename


@dataclass
class Record:
    sandbox_id: str
    shape: Shape
    state_dir: Path
    tenant: str | None = None
    phase: Phase = "Pending"
    box: Box | None = None
    token: str = ""
    started_at: float = 0.0
    end_at: float = 0.0
    timeout_seconds: int = 300
    auto_pause: bool = False
    #: Traffic to it while paused or hibernated resumes it (E2B's lifecycle.auto_resume).
    auto_resume: bool = False
    metadata: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    network: bool = False
    unsaved: dict[str, list[str]] = field(default_factory=dict)
    #: The node the scheduler placed it on (None while it holds no place).
    node: str | None = None
    paused_at: float | None = None
    #: Whether a snapshot archive of it may be on disk (it was hibernated, or it was
    #: adopted from an earlier control plane); `_forget` removes it then.
    snapshot: bool = False
    #: CPU, memory and disk samples while it runs for a tenant (None before).
    metrics: MetricsHistory | None = None
    #: The tenant's volumes mounted into it.
    mounts: tuple[Mount, ...] = ()
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def placement_key(self) -> str:
        return f"sandbox/{self.sandbox_id}"

    @functools.cached_property
    def client(self) -> DaemonClient:
        """The client of the sandbox's daemon (its socket is in the state directory, which
        stays the record's for its whole life)."""
        return DaemonClient(f"{self.state_dir}/run/d.sock")

    def to_object(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": "Sandbox",
            "metadata": {
                "name": self.sandbox_id,
                "namespace": NAMESPACE,
                "labels": {TENANT_LABEL: self.tenant or ""},
            },
            "spec": {
                "templateRef": {"name": self.shape.template},
                "volumeMounts": [m.to_json() for m in self.mounts],
                "env": self.env,
                "timeoutSeconds": self.timeout_seconds,
                "allowInternetAccess": self.network,
                "autoPause": self.auto_pause,
                "autoResume": self.auto_resume,
                "operatingMode": {"Paused": "Paused", "Hibernated": "Hibernated"}.get(
                    self.phase, "Running"
                ),
                "metadata": self.metadata,
            },
            "status": {
                "phase": self.phase,
                "node": self.node,
                "stateDir": str(self.state_dir),
                "startedAt": to_iso(self.started_at),
                "endAt": to_iso(self.end_at),
                "envdAccessToken": self.token,
                "unsavedNames": self.unsaved or None,
                "pausedAt": to_iso(self.paused_at),
                "box": self.box.to_json() if self.box is not None else None,
            },
        }


@dataclass(frozen=True)
class Handover:
    """What a started sandbox gets when it is handed to its tenant (see `_activate`)."""

    tenant: str
    timeout_seconds: int
    metadata: dict[str, str]
    auto_pause: bool
    auto_resume: bool = False


class SandboxService:
    def __init__(
        self,
        store: ObjectStore,
        data_dir: Path,
        clock: Callable[[], float] = time.time,
        placement: Placement | None = None,
        max_snapshots: int = MAX_SNAPSHOTS_PER_TENANT,
    ) -> None:
        self.store = store
        self.max_snapshots = max_snapshots
        self.templates = TemplateShapes(store)
        #: The platform's scheduler: cold starts and pool refills are placed through it
        #: (claims from a pool are placed already); None runs everything on this node.
        self.placement = placement
        #: Why a template's warm pool cannot be refilled now (the scheduler's reasons).
        self.pool_blocked: dict[str, str] = {}
        # Sandbox state must be reachable by uid 65534 (see dockyard.node.paths); the
        # tenants' API keys stay in the private data directory.
        self.root = state_root(data_dir, "sandbox")
        # Running sandboxes' state directories (record, sockets) end with them: in memory,
        # so that making and removing one per sandbox costs no disk inode allocation.
        self.boxes_dir = runtime_root(self.root, "sandboxes", self.root / "boxes")
        self.snapshots_dir = self.root / "snapshots"
        #: Saved sandboxes new ones start from (E2B snapshots), and the copies forks use.
        self.snapshots = SnapshotCatalog(store, self.root / "saved")
        #: The tenants' volumes (E2B volumes), mounted into sandboxes that name them.
        self.volumes = VolumeCatalog(store, self.root / "volumes")
        self.node_dir = self.root / "node"
        self.node_files: NodeFiles | None = None
        self.nursery_dir = self.root / "nursery"
        self.nursery: Nursery | None = None
        self._nursery_lock = threading.Lock()
        self.clock = clock
        self.records: dict[str, Record] = {}
        self.pools: dict[str, deque[Record]] = {}
        self._starting: dict[str, int] = {}
        self._targets: dict[str, int] | None = None
        self._shapes: dict[str, Shape | None] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._refill_slots = asyncio.Semaphore(_REFILL_CONCURRENCY)
        self._background: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._sampled_at = 0.0
        #: Sandboxes whose timeout (or hibernation) is being carried out.
        self._expiring: set[str] = set()
        #: Per tenant: snapshots are taken one at a time.
        self._snapshot_locks: dict[str, asyncio.Lock] = {}
        #: Volumes being mounted by sandboxes still starting (not in `records` yet).
        self._mounting: Counter[str] = Counter()
        self._workers = ThreadPoolExecutor(_WORKER_THREADS, thread_name_prefix="sandbox")

    async def _blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run blocking node work (starting, killing, cleaning up) on the service's own
        threads, so that slow clean-ups never hold up starts."""
        return await asyncio.get_running_loop().run_in_executor(self._workers, fn, *args)

    # --- lifecycle of the service ---------------------------------------------------------

    async def start(self) -> None:
        """Prepare the node, adopt sandboxes that outlived the last control plane, and
        start the pool/timeout loop."""
        for path in (self.root, self.boxes_dir, self.snapshots_dir, self.snapshots.directory,
                     self.volumes.directory):  # fmt: skip
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, 0o711)
        self.snapshots.sweep()
        self.volumes.sweep()
        for partial in self.snapshots_dir.glob("*.partial"):  # a hibernation cut short
            partial.unlink()
        self.node_files = await self._blocking(prepare_node, self.node_dir)
        self.nursery = await self._blocking(self._open_nursery, self.node_files)
        self._adopt_all()
        self._loop_task = asyncio.create_task(self._loop(), name="sandbox-loop")

    async def stop(self) -> None:
        """Stop the loop and kill unclaimed pool sandboxes; claimed ones keep running."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        # Pool refills in flight finish (a cancelled one would leave its sandbox running
        # unrecorded); the pools are emptied afterwards.
        self._stopping = True
        if self._background:
            await asyncio.wait(list(self._background), timeout=_START_TIMEOUT_SECONDS + 5)
        for pool in self.pools.values():
            while pool:
                await self._drop(pool.popleft())
        if self._background:  # clean-ups of sandboxes killed meanwhile
            await asyncio.wait(list(self._background), timeout=_START_TIMEOUT_SECONDS + 5)
        # Sandboxes forked by the nursery live in its namespaces: it stays while any runs.
        if self.nursery is not None and not any(r.box for r in self.records.values()):
            await self._blocking(self.nursery.kill)
            self.nursery = None
            with contextlib.suppress(OSError):  # nothing runs: the in-memory directory goes
                self.boxes_dir.rmdir()
        elif self.nursery is not None:
            self.nursery.close()  # it keeps running for the sandboxes it forked
        self._workers.shutdown(wait=False)

    def _open_nursery(self, files: NodeFiles) -> Nursery | None:
        """The zygote sandbox new sandboxes are forked from: the running one (sandboxes
        forked by it may still be alive) or a new one; None when this node cannot run it
        (sandboxes are then started with bubblewrap directly)."""
        nursery = Nursery.adopt(self.nursery_dir, self.boxes_dir, self.root / "boxes")
        if nursery is not None:
            if nursery.boxes_dir != self.boxes_dir:
                # Started elsewhere (an earlier build, or /dev/shm unavailable then): new
                # sandboxes go where its mount namespace puts them until it ends.
                log.info(
                    "sandbox directories stay in %s with the running nursery", nursery.boxes_dir
                )
                with contextlib.suppress(OSError):
                    self.boxes_dir.rmdir()
                self.boxes_dir = nursery.boxes_dir
            return nursery
        try:
            nursery = Nursery.start(
                self.nursery_dir,
                self.boxes_dir,
                files,
                self.volumes.directory,
                {"saved": self.snapshots.directory, "hibernated": self.snapshots_dir},
            )
            nursery.cgroups.sweep()  # spare cgroups of a control plane that crashed
            return nursery
        except SandboxError as exc:
            log.warning("sandboxes start without the nursery: %s", exc)
            return None

    async def _start_box(self, spec: BoxSpec) -> Box:
        """Fork the sandbox from the nursery when it can, else start it with bubblewrap
        (on a worker thread)."""
        if self.node_files is None:
            raise SandboxError("the sandbox service is not started")
        nursery = self.nursery
        if nursery is not None and nursery.can_make(spec):
            try:
                return await nursery.spawn(spec, self._blocking)
            except SandboxError as exc:
                if nursery.alive():
                    raise
                # Every sandbox it forked ended with it; a new one serves the next start.
                await self._blocking(self._replace_nursery, nursery, exc)
        box: Box = await self._blocking(Box.start, spec, self.node_files)
        return box

    def _replace_nursery(self, ended: Nursery, reason: SandboxError) -> None:
        """Start a new nursery in place of `ended` (blocking; once, however many starts
        saw it end)."""
        with self._nursery_lock:
            if self.nursery is ended and self.node_files is not None:
                log.warning("the sandbox nursery ended (%s); starting a new one", reason)
                ended.kill()
                self.nursery = self._open_nursery(self.node_files)

    def _adopt_all(self) -> None:
        objects, _ = self.store.list(SANDBOX, NAMESPACE)
        known: set[str] = set()
        for obj in objects:
            record = self._record_from_object(obj)
            if record is None:
                continue
            known.add(record.sandbox_id)
            if record.phase in ("Running", "Paused"):
                record.box = Box.adopt(record.state_dir)
                if record.box is None:
                    log.info("sandbox %s ended while the control plane was down", record.sandbox_id)
                    self._forget(record)
                    continue
                if self.placement is not None and record.node:
                    shape = record.shape
                    self.placement.assume(record.placement_key, record.node,
                                          shape.request_cpu_millis, shape.request_memory_mib)  # fmt: skip
            self.records[record.sandbox_id] = record
        # Pool sandboxes and half-created ones have no object: nobody can reach them.
        for state_dir in self.boxes_dir.iterdir():
            if state_dir.name not in known:
                box = Box.adopt(state_dir)
                if box is not None:
                    box.kill()
                shutil.rmtree(state_dir, ignore_errors=True)

    def _record_from_object(self, obj: dict[str, Any]) -> Record | None:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        name = obj["metadata"]["name"]
        shape = self.templates.resolve((spec.get("templateRef") or {}).get("name", "base"))
        if shape is None or not status.get("stateDir"):
            return None

        tenant = (obj["metadata"].get("labels") or {}).get(TENANT_LABEL) or None

        return Record(
            sandbox_id=name,
            shape=shape,
            state_dir=Path(status["stateDir"]),
            tenant=tenant,
            phase=status.get("phase", "Running"),
            token=status.get("envdAccessToken") or "",
            started_at=from_iso(status.get("startedAt")),
            end_at=from_iso(status.get("endAt")),
            timeout_seconds=int(spec.get("timeoutSeconds") or shape.timeout_seconds),
            auto_pause=bool(spec.get("autoPause")),
            auto_resume=bool(spec.get("autoResume")),
            metadata=dict(spec.get("metadata") or {}),
            env=dict(spec.get("env") or {}),
            network=bool(spec.get("allowInternetAccess")),
            unsaved=dict(status.get("unsavedNames") or {}),
            paused_at=from_iso(status.get("pausedAt")) or None,
            node=status.get("node") or None,
            snapshot=True,
            metrics=MetricsHistory(from_iso(status.get("startedAt"))) if tenant else None,
            mounts=mounts_from_objects(spec.get("volumeMounts")),
        )

    # --- starting sandboxes ---------------------------------------------------------------

    def _new_record(self, shape: Shape, network: bool) -> Record:
        sandbox_id = "i" + os.urandom(10).hex()[:19]
        return Record(sandbox_id, shape, self.boxes_dir / sandbox_id, network=network)

    def _place(self, record: Record) -> None:
        """Choose the sandbox's node (on the event loop: the scheduler lives there).
        Raises SandboxUnschedulable when no node can take it."""
        if self.placement is None:
            record.node = LOCAL_NODE
            return
        shape = record.shape
        try:
            record.node = self.placement.place(
                record.placement_key,
                shape.request_cpu_millis,
                shape.request_memory_mib,
                shape.node_selector,
            )
        except Unplaceable as exc:
            raise SandboxUnschedulable(
                f"no node can run a sandbox of template {shape.template!r}: {exc}"
            ) from exc

    def _unplace(self, record: Record) -> None:
        if self.placement is not None and record.node is not None:
            self.placement.release(record.placement_key)
        record.node = None

    async def _boot(self, record: Record, restore: Path | None = None) -> None:
        """Place the sandbox, start its box and wait until its daemon answers (the place
        is given back when that fails)."""
        self._place(record)
        self._mounting.update(m.volume_id for m in record.mounts)
        try:
            await self._start(record, restore)
        except BaseException:
            self._unplace(record)
            raise
        finally:
            self._mounting.subtract(m.volume_id for m in record.mounts)

    async def _start(self, record: Record, restore: Path | None) -> None:
        shape = record.shape
        spec = BoxSpec(
            sandbox_id=record.sandbox_id,
            state_dir=record.state_dir,
            memory_bytes=shape.memory_bytes,
            cpu_millis=shape.cpu_millis,
            pids=shape.pids,
            home_bytes=shape.disk_bytes,
            network=record.network,
            env={**shape.env, **record.env},
            restore_archive=restore,
            volumes=tuple((self.volumes.path(m.volume_id), m.path) for m in record.mounts),
        )
        try:
            box = await self._start_box(spec)
        except SandboxError as exc:
            raise SandboxUnavailable(str(exc)) from exc
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        try:
            while not box.ready():
                if not box.alive() or time.monotonic() > deadline:
                    reason = box.failure() or "sandbox exited during start"
                    raise SandboxUnavailable(
                        f"sandbox {record.sandbox_id} failed to start: {reason}"
                    )
                await asyncio.sleep(_READY_POLL_SECONDS)
        except BaseException:  # a failed start, or a cancelled caller: leave nothing behind
            await asyncio.shield(self._blocking(box.kill))
            raise
        record.box = box
        if shape.start_command:
            # Runs in the background; its output is not collected.
            stream: AsyncGenerator[dict[str, Any], None] = record.client.stream(
                "exec", cmd="/bin/bash", args=["-l", "-c", shape.start_command], tag="start"
            )
            await anext(stream)
            await stream.aclose()

    async def create(
        self,
        tenant: str,
        template: str,
        *,
        timeout_seconds: int | None = None,
        env: dict[str, str] | None = None,
        metadata: dict[str, str] | None = None,
        allow_internet_access: bool | None = None,
        auto_pause: bool | None = None,
        auto_resume: bool = False,
        volume_mounts: Any = None,
    ) -> Record:
        """A running sandbox for `tenant`: claimed from the template's warm pool when one
        is ready, else started cold. `template` may also name one of the tenant's
        snapshots: the sandbox then starts cold from it. `volume_mounts` is E2B's list of
        ``{"name", "path"}`` of the tenant's volumes (a sandbox with volumes starts cold;
        one from a snapshot mounts the snapshot's volumes unless it names its own). Raises
        NotFoundError for an unknown template, ValueError for bad mounts or for
        `auto_resume` without auto-pause."""
        mounts = self.volumes.resolve_mounts(tenant, volume_mounts)
        shape = self.templates.resolve(template)
        snapshot = self.snapshots.find(tenant, template) if shape is None else None
        if snapshot is not None:
            shape = snapshot.shape
        if shape is None:
            raise NotFoundError(
                f"template {template!r} not found", kind="SandboxTemplate", name=template
            )
        handover = Handover(
            tenant,
            timeout_seconds or shape.timeout_seconds,
            dict(metadata or {}),
            shape.auto_pause if auto_pause is None else auto_pause,
            auto_resume,
        )
        if auto_resume and not handover.auto_pause:
            raise ValueError("autoResume: a sandbox resumes by traffic only if it auto-pauses")
        if snapshot is not None:
            network = snapshot.network if allow_internet_access is None else allow_internet_access
            restored = self._new_record(snapshot.shape, network)
            restored.env = {**snapshot.env, **(env or {})}
            restored.mounts = mounts or self._still_there(snapshot.mounts)
            archive = self.snapshots.archive(snapshot)
            return await self._start_restored(restored, archive, handover)
        network = (
            shape.allow_internet_access if allow_internet_access is None else allow_internet_access
        )
        record = self._claim(shape) if not (network or mounts) else None
        if record is None:
            record = self._new_record(shape, network)
            record.env = dict(env or {})
            record.mounts = mounts
            await self._boot(record)
        else:
            self._refill(refresh=False)  # the replacement starts now, not at the next tick
            if env:
                record.env = dict(env)
                await record.client.call("set_env", envs=record.env)
        return await self._activate(record, handover)

    async def _start_restored(self, record: Record, archive: Path, handover: Handover) -> Record:
        """Start the new `record` cold from the snapshot `archive` and hand it over."""
        await self._boot(record, restore=archive)
        return await self._activate(record, handover)

    async def _activate(self, record: Record, handover: Handover) -> Record:
        """Hand the started `record` to its tenant: running from now, recorded in the
        store (a failure to record drops the sandbox)."""
        now = self.clock()
        record.tenant = handover.tenant
        record.phase = "Running"
        record.token = new_access_token()
        record.started_at = now
        record.timeout_seconds = handover.timeout_seconds
        record.end_at = now + record.timeout_seconds
        record.auto_pause = handover.auto_pause
        record.auto_resume = handover.auto_resume
        record.metadata = dict(handover.metadata)
        record.metrics = MetricsHistory(
            now, cpu_baseline(record.box.cgroup) if record.box is not None else 0.0
        )
        try:
            self.store.create(SANDBOX, record.to_object())
        except Exception:
            await self._drop(record)
            raise
        self.records[record.sandbox_id] = record
        return record

    def _claim(self, shape: Shape) -> Record | None:
        pool = self.pools.get(shape.template)
        while pool:
            record = pool.popleft()
            if (
                record.box is not None
                and record.box.alive()
                and (record.shape is shape or record.shape == shape)
            ):
                return record
            self._spawn(self._drop(record))
        return None

    # --- lookups ----------------------------------------------------------------------------

    def get(self, tenant: str, sandbox_id: str) -> Record:
        """The tenant's sandbox; NotFoundError for unknown ids and other tenants' ones."""
        record = self.records.get(sandbox_id)
        if record is None or record.tenant != tenant:
            raise NotFoundError(
                f"sandbox {sandbox_id!r} not found", kind="Sandbox", name=sandbox_id
            )
        return record

    def list(self, tenant: str) -> builtins.list[Record]:
        return [r for r in self.records.values() if r.tenant == tenant]

    def running(self, sandbox_id: str) -> Record | None:
        """The sandbox behind a data-plane request, whatever its tenant (the caller checks
        its access token)."""
        return self.records.get(sandbox_id)

    # --- transitions ----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _holding(self, record: Record) -> AsyncIterator[Record]:
        """Hold the record's lock, for a sandbox that is still this service's once it has
        it (a kill that held it first forgets the sandbox: NotFoundError then)."""
        async with record.lock:
            if self.records.get(record.sandbox_id) is not record:
                raise NotFoundError(
                    f"sandbox {record.sandbox_id!r} not found", kind="Sandbox",
                    name=record.sandbox_id,
                )  # fmt: skip
            yield record

    async def kill(self, tenant: str, sandbox_id: str) -> None:
        """SIGKILL the sandbox and forget it; returns once the kill is sent and recorded.
        Waiting for its processes to end, removing its cgroup and its files happen in
        the background (after a crash, `start()` finishes them: the sandbox has no
        object any more)."""
        record = self.get(tenant, sandbox_id)
        async with self._holding(record):
            box, record.box = record.box, None
            if box is not None:
                box.signal_kill(paused=record.phase == "Paused")
            self._forget(record, files=False)
            self._spawn(self._discard_mounted(record, box))

    def set_timeout(self, tenant: str, sandbox_id: str, seconds: int) -> None:
        record = self.get(tenant, sandbox_id)
        record.timeout_seconds = seconds
        record.end_at = self.clock() + seconds
        self._save(record)

    async def pause(self, tenant: str, sandbox_id: str) -> None:
        record = self.get(tenant, sandbox_id)
        async with self._holding(record):
            if record.phase != "Running" or record.box is None:
                raise SandboxConflict(
                    f"sandbox {sandbox_id} is {record.phase.lower()}, not running"
                )
            try:
                await self._blocking(record.box.freeze)
            except SandboxError as exc:
                raise SandboxUnavailable(str(exc)) from exc
            record.phase = "Paused"
            record.paused_at = self.clock()
            self._save(record)

    async def resume(self, tenant: str, sandbox_id: str, timeout_seconds: int | None) -> bool:
        """Make the sandbox run again (thaw a paused one, wake a hibernated one); True when
        it was not running. The timeout restarts from now."""
        record = self.get(tenant, sandbox_id)
        async with self._holding(record):
            resumed = record.phase != "Running"
            if record.phase == "Paused" and record.box is not None:
                await self._blocking(record.box.thaw)
            elif record.phase == "Hibernated":
                await self._wake(record)
                if record.metrics is not None and record.box is not None:
                    record.metrics.rebase(self.clock(), cpu_baseline(record.box.cgroup))
            record.phase = "Running"
            record.paused_at = None
            if timeout_seconds:
                record.timeout_seconds = timeout_seconds
            record.end_at = self.clock() + record.timeout_seconds
            self._save(record)
            return resumed

    async def resume_for_traffic(self, record: Record) -> None:
        """Resume a paused or hibernated sandbox that asked for it (``auto_resume``) because
        a request reached it; SandboxConflict for one that did not ask."""
        if not record.auto_resume or record.tenant is None:
            raise SandboxConflict(f"sandbox {record.sandbox_id} is {record.phase.lower()}")
        await self.resume(record.tenant, record.sandbox_id, None)

    async def hibernate(self, tenant: str, sandbox_id: str) -> dict[str, builtins.list[str]]:
        """Write home, code contexts and history to disk and release all memory; returns
        the names of globals that could not be saved, per context."""
        record = self.get(tenant, sandbox_id)
        async with self._holding(record):
            record.snapshot = True
            archive = self.snapshots_dir / f"{sandbox_id}.tar"
            header = await self._copy_running(record, archive, then_freeze=False)
            assert record.box is not None
            await self._blocking(record.box.kill)
            record.box = None
            self._unplace(record)  # on disk only: it holds no node's capacity
            record.phase = "Hibernated"
            record.unsaved = {k: list(v) for k, v in (header.get("unsaved") or {}).items() if v}
            self._save(record)
            return record.unsaved

    async def _wake(self, record: Record) -> None:
        archive = self.snapshots_dir / f"{record.sandbox_id}.tar"
        await self._boot(record, restore=archive if archive.exists() else None)

    async def _save_copy(self, record: Record, target: Path, memory: bool = True) -> dict[str, Any]:
        """Write the running sandbox's archive to `target`, whole or not at all (the caller
        holds the record's lock); returns the daemon's header (``unsaved`` names)."""
        partial = target.with_name(f"{target.name}.{os.urandom(4).hex()}.partial")
        limit = record.shape.disk_bytes + record.shape.memory_bytes + _ARCHIVE_SLACK_BYTES
        try:
            async with asyncio.timeout(_COPY_TIMEOUT_SECONDS):
                header: dict[str, Any] = await record.client.snapshot(partial, limit, memory)
            os.replace(partial, target)
        except TimeoutError as exc:
            raise SandboxUnavailable(
                f"the copy of {record.sandbox_id} took over {_COPY_TIMEOUT_SECONDS:.0f} s"
            ) from exc
        except DaemonError as exc:  # e.g. the daemon is gone, or the archive too large
            raise SandboxUnavailable(f"cannot copy {record.sandbox_id}: {exc}") from exc
        except OSError as exc:  # the control plane's disk, e.g. full
            raise SandboxUnavailable(
                f"cannot write the copy of {record.sandbox_id}: {exc}"
            ) from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
        return header

    async def _copy_running(
        self, record: Record, target: Path, memory: bool = True, then_freeze: bool = True
    ) -> dict[str, Any]:
        """`_save_copy` of a running or paused sandbox (the caller holds the record's
        lock). A paused one is thawed for the copy and frozen again, also when the copy
        fails; with `then_freeze` False a copy that succeeded leaves it thawed (for
        hibernation, which kills it next)."""
        if record.phase not in ("Running", "Paused") or record.box is None:
            raise SandboxConflict(f"sandbox {record.sandbox_id} is {record.phase.lower()}")
        paused = record.phase == "Paused"
        if paused:
            await self._blocking(record.box.thaw)
        copied = False
        try:
            header = await self._save_copy(record, target, memory)
            copied = True
            return header
        finally:
            if paused and record.box is not None and (then_freeze or not copied):
                await self._blocking(record.box.freeze)

    # --- volumes ----------------------------------------------------------------------------

    def create_volume(self, tenant: str, name: str) -> Volume:
        """A new empty volume; AlreadyExistsError when the tenant has one of that name."""
        return self.volumes.create(tenant, name, self.clock())

    def list_volumes(self, tenant: str) -> builtins.list[Volume]:
        return self.volumes.list(tenant)

    def get_volume(self, tenant: str, ref: str) -> Volume:
        """The tenant's volume with id or name `ref`; NotFoundError otherwise."""
        volume = self.volumes.find(tenant, ref)
        if volume is None:
            raise NotFoundError(f"volume {ref!r} not found", kind="SandboxVolume", name=ref)
        return volume

    async def delete_volume(self, tenant: str, ref: str) -> bool:
        """Delete the tenant's volume and its contents (on a worker thread); False when
        there is none, SandboxConflict while a sandbox (running, paused or hibernated)
        mounts it. Sandboxes that mount it and are still starting or ending are waited
        for first."""
        volume = self.volumes.find(tenant, ref)
        if volume is None:
            return False
        # A sandbox that mounts it and is still starting or ending: wait for it (a kill's
        # clean-up takes milliseconds; a start ends in the records, checked below).
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while self._mounting[volume.volume_id] > 0:
            if time.monotonic() > deadline:
                raise SandboxConflict(
                    f"volume {volume.name!r} is mounted by a sandbox that is starting or ending"
                )
            await asyncio.sleep(0.01)
        for record in self.records.values():
            if any(m.volume_id == volume.volume_id for m in record.mounts):
                raise SandboxConflict(
                    f"volume {volume.name!r} is mounted by sandbox {record.sandbox_id}"
                )
        self.volumes.forget(volume)  # gone for every caller before its files go
        await self._blocking(self.volumes.remove_files, volume.volume_id)
        return True

    def _still_there(self, mounts: tuple[Mount, ...]) -> tuple[Mount, ...]:
        """`mounts` when every volume still exists, else ValueError naming the missing."""
        for mount in mounts:
            if not self.volumes.path(mount.volume_id).is_dir():
                raise ValueError(
                    f"volumeMounts: volume {mount.name!r} of the snapshot no longer exists"
                )
        return mounts

    # --- snapshots and forks ----------------------------------------------------------------

    async def snapshot(
        self, tenant: str, sandbox_id: str, name: str | None = None, memory: bool = True
    ) -> Snapshot:
        """Save the sandbox as a snapshot new sandboxes can start from; it goes on running
        (or paused) as it was. A `name` the tenant already gave a snapshot gets the new
        contents under that snapshot's id. Without `memory` only the home directory is
        saved."""
        if name is not None:
            check_name(name)
        record = self.get(tenant, sandbox_id)
        # One at a time per tenant: the quota and a name's snapshot hold across the copy.
        async with self._snapshot_locks.setdefault(tenant, asyncio.Lock()):
            return await self._snapshot(record, tenant, name, memory)

    async def _snapshot(
        self, record: Record, tenant: str, name: str | None, memory: bool
    ) -> Snapshot:
        existing = self.snapshots.find(tenant, name) if name else None
        if existing is None and len(self.snapshots.list(tenant)) >= self.max_snapshots:
            raise SandboxQuotaExceeded(
                f"tenant holds {self.max_snapshots} snapshots, the most it may; delete one first"
            )
        snapshot_id = existing.snapshot_id if existing else new_snapshot_id()
        # A new archive each time: the object names it, so a crash before the object is
        # written leaves the previous contents (and their archive) in place.
        archive_name = f"{snapshot_id}-{os.urandom(4).hex()}.tar"
        archive = self.snapshots.directory / archive_name
        async with self._holding(record):
            header = await self._copy_running(record, archive, memory)
        snapshot = Snapshot(
            snapshot_id=snapshot_id,
            tenant=tenant,
            source=record.sandbox_id,
            shape=record.shape,
            names=(name,) if name else (),
            memory=memory,
            env=dict(record.env),
            network=record.network,
            created_at=self.clock(),
            unsaved={k: list(v) for k, v in (header.get("unsaved") or {}).items() if v},
            size_bytes=archive.stat().st_size,
            mounts=record.mounts,
            archive_name=archive_name,
        )
        try:
            self.snapshots.save(snapshot)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(archive)
            raise
        if existing is not None and existing.archive_name != archive_name:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.snapshots.archive(existing))
        return snapshot

    def list_snapshots(self, tenant: str) -> builtins.list[Snapshot]:
        return self.snapshots.list(tenant)

    def delete_snapshot(self, tenant: str, ref: str) -> bool:
        """Delete the tenant's snapshot with id or name `ref`; False when there is none.
        Sandboxes started from it keep running."""
        return self.snapshots.delete(tenant, ref)

    async def fork(
        self, tenant: str, sandbox_id: str, count: int = 1, timeout_seconds: int | None = None
    ) -> builtins.list[Record | Exception]:
        """Start `count` copies of the sandbox (home, code contexts, history, env and
        metadata), each from the same saved copy; the sandbox goes on as it was. One entry
        per copy: its record, or why it did not start."""
        if not 1 <= count <= MAX_FORKS:
            raise ValueError(f"count: must be between 1 and {MAX_FORKS}, got {count}")
        source = self.get(tenant, sandbox_id)
        archive = self.snapshots.directory / f"fork-{new_snapshot_id()}.tar"
        async with self._holding(source):
            await self._copy_running(source, archive)
        handover = Handover(
            tenant,
            timeout_seconds or source.timeout_seconds,
            source.metadata,
            source.auto_pause,
            source.auto_resume,
        )

        def copy() -> Record:
            record = self._new_record(source.shape, source.network)
            record.env, record.mounts = dict(source.env), source.mounts
            return record

        try:
            started = await asyncio.gather(
                *(self._start_restored(copy(), archive, handover) for _ in range(count)),
                return_exceptions=True,
            )
        finally:
            # Each copy unpacked it before its daemon answered; none needs it now.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(archive)
        for item in started:
            if isinstance(item, BaseException) and not isinstance(item, Exception):
                raise item  # cancelled: not a start that failed
        return [item for item in started if isinstance(item, Record | Exception)]

    # --- persistence ------------------------------------------------------------------------

    def _save(self, record: Record) -> None:
        obj = record.to_object()
        try:
            self.store.update(SANDBOX, obj)
        except NotFoundError:
            with contextlib.suppress(AlreadyExistsError):
                self.store.create(SANDBOX, obj)

    def _forget(self, record: Record, files: bool = True) -> None:
        self._unplace(record)
        self.records.pop(record.sandbox_id, None)
        with contextlib.suppress(NotFoundError):
            self.store.delete(SANDBOX, NAMESPACE, record.sandbox_id)
        if record.snapshot:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.snapshots_dir}/{record.sandbox_id}.tar")
        if files:
            remove_state_dir(record.state_dir)

    async def _discard_mounted(self, record: Record, box: Box | None) -> None:
        """`_discard_box` of a killed sandbox; its volumes count as in use until its
        processes are gone."""
        self._mounting.update(m.volume_id for m in record.mounts)
        try:
            await self._discard_box(box, record.state_dir, signalled=True)
        finally:
            self._mounting.subtract(m.volume_id for m in record.mounts)

    def _drop(self, record: Record) -> Coroutine[Any, Any, None]:
        """Give back the record's place and take its box; the returned coroutine kills the
        box and removes its files (await it, or hand it to `_spawn`)."""
        self._unplace(record)
        box, record.box = record.box, None
        return self._discard_box(box, record.state_dir)

    async def _discard_box(self, box: Box | None, state_dir: Path, signalled: bool = False) -> None:
        """Kill `box` (`signalled`: SIGKILL was sent already) and remove `state_dir`. A
        sandbox forked by the nursery is waited for on the event loop and leaves its
        cgroup for the next one; any other is killed on a worker thread."""
        if box is not None:
            if self.nursery is not None:
                await self.nursery.release(box, self._blocking, signalled)
            else:
                await self._blocking(box.kill)
        remove_state_dir(state_dir)

    # --- background: pools and timeouts ---------------------------------------------------

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _loop(self) -> None:
        while True:
            try:
                await self._expire()
                self._refill()
                self._report_pools()
                if time.monotonic() - self._sampled_at >= INTERVAL_SECONDS:
                    self._sampled_at = time.monotonic()
                    await self._sample([r for r in self.records.values() if r.phase == "Running"])
            except Exception:
                log.exception("sandbox loop failed")
            await asyncio.sleep(_LOOP_SECONDS)

    # --- metrics ------------------------------------------------------------------------------

    async def _sample(self, records: builtins.list[Record]) -> None:
        """Add a sample to each running tenant sandbox's metrics (read on a worker)."""
        wanted = [r for r in records if r.box is not None and r.metrics is not None]
        if not wanted:
            return
        # Taken on the loop: a kill meanwhile takes the record's box, not this list's.
        cgroups = [r.box.cgroup for r in wanted if r.box is not None]

        def read_all() -> builtins.list[Usage | None]:
            return [read_usage(cgroup) for cgroup in cgroups]

        usages = await self._blocking(read_all)
        now = self.clock()
        for record, usage in zip(wanted, usages, strict=True):
            if usage is not None and record.metrics is not None and record.phase == "Running":
                shape = record.shape
                record.metrics.add(now, usage, shape.cpu_millis, shape.memory_bytes)

    async def metrics(
        self, tenant: str, sandbox_id: str, start: float | None = None, end: float | None = None
    ) -> builtins.list[Metric]:
        """The sandbox's samples between `start` and `end` (seconds since the epoch), oldest
        first. A running sandbox whose newest sample is over a second old gets a fresh one
        first, so a sandbox just created has one."""
        record = self.get(tenant, sandbox_id)
        history = record.metrics
        if history is None:
            return []
        newest = history.latest()
        if record.phase == "Running" and (newest is None or self.clock() - newest.timestamp > 1.0):
            await self._sample([record])
        return history.between(start, end)

    def latest_metrics(self, tenant: str, sandbox_ids: builtins.list[str]) -> dict[str, Metric]:
        """The newest sample of each of the tenant's sandboxes named (unknown ones and
        ones without a sample are left out)."""
        out: dict[str, Metric] = {}
        for sandbox_id in sandbox_ids:
            record = self.records.get(sandbox_id)
            history = record.metrics if record is not None and record.tenant == tenant else None
            newest = history.latest() if history is not None else None
            if newest is not None:
                out[sandbox_id] = newest
        return out

    def _report_pools(self) -> None:
        """Write each SandboxWarmPool's ready count and, when it cannot be refilled, why
        (only when they changed)."""
        for pool in self.store.list(WARM_POOL, NAMESPACE)[0]:
            template = ((pool.get("spec") or {}).get("templateRef") or {}).get("name", "")
            wanted: dict[str, Any] = {"readyReplicas": self.ready_count(template)}
            if template in self.pool_blocked:
                wanted["message"] = self.pool_blocked[template]
            if (pool.get("status") or {}) != wanted:
                pool["status"] = wanted
                pool["metadata"].pop("resourceVersion", None)
                with contextlib.suppress(NotFoundError):
                    self.store.update(WARM_POOL, pool)

    async def _expire(self) -> None:
        """Timeouts (kill, or pause with auto-pause) and the hibernation of sandboxes
        paused longer than their template's ``hibernateAfterSeconds``."""
        now = self.clock()
        for record in list(self.records.values()):
            if record.tenant is None or record.sandbox_id in self._expiring:
                continue
            after = record.shape.hibernate_after_seconds
            if (record.phase == "Paused" and after and record.paused_at is not None
                    and now - record.paused_at >= after):  # fmt: skip
                self._expire_one(record, self.hibernate, "hibernation of paused sandbox")
            elif record.phase == "Running" and record.end_at <= now:
                action = self.pause if record.auto_pause else self.kill
                self._expire_one(record, action, "timeout of sandbox")

    def _expire_one(
        self, record: Record, action: Callable[[str, str], Awaitable[Any]], what: str
    ) -> None:
        """Run `action` on the sandbox in the background (it may wait for the sandbox's
        lock, e.g. behind a long snapshot; the loop does not), once at a time."""
        sandbox_id, tenant = record.sandbox_id, record.tenant
        assert tenant is not None
        self._expiring.add(sandbox_id)

        async def run() -> None:
            try:
                await action(tenant, sandbox_id)
            except (SandboxConflict, NotFoundError):
                pass
            except (SandboxUnavailable, DaemonError, OSError) as exc:
                log.warning("%s %s: %s", what, sandbox_id, exc)
            finally:
                self._expiring.discard(sandbox_id)

        self._spawn(run())

    def pool_targets(self) -> dict[str, int]:
        """Warm sandboxes wanted per template, summed over SandboxWarmPools."""
        wanted: dict[str, int] = {}
        for pool in self.store.list(WARM_POOL, NAMESPACE)[0]:
            spec = pool.get("spec") or {}
            name = (spec.get("templateRef") or {}).get("name")
            if name:
                wanted[name] = wanted.get(name, 0) + int(spec.get("replicas") or 0)
        return wanted

    def ready_count(self, template: str) -> int:
        return len(self.pools.get(template, ()))

    def _refill(self, refresh: bool = True) -> None:
        """Start the pool sandboxes that are missing and drop surplus ones. `refresh`
        reads the pools and their templates again; a claim reuses what the loop's last
        tick read (a quarter of a second old at most), so it costs no store read."""
        if self._stopping:
            return
        if refresh or self._targets is None:
            self._targets = self.pool_targets()
            self._shapes = {t: self.templates.resolve(t) for t in self._targets}
        targets = self._targets
        for template, wanted in targets.items():
            pool = self.pools.setdefault(template, deque())
            while len(pool) > wanted:
                self._spawn(self._drop(pool.pop()))
            missing = wanted - len(pool) - self._starting.get(template, 0)
            for _ in range(max(0, missing)):
                self._starting[template] = self._starting.get(template, 0) + 1
                self._spawn(self._add_to_pool(template))
        for template, pool in self.pools.items():
            if template not in targets:
                while pool:
                    self._spawn(self._drop(pool.pop()))

    async def _add_to_pool(self, template: str) -> None:
        try:
            async with self._refill_slots:
                shape = self._shapes.get(template)
                if shape is None:
                    return
                record = self._new_record(shape, network=False)
                record.phase = "Pooled"
                try:
                    await self._boot(record)
                except SandboxUnschedulable as exc:
                    if self.pool_blocked.get(template) != str(exc):
                        log.info("warm pool %s waits for capacity: %s", template, exc)
                    self.pool_blocked[template] = str(exc)
                    await asyncio.sleep(1.0)
                    return
                except SandboxUnavailable as exc:
                    log.warning("warm pool %s: %s", template, exc)
                    await asyncio.sleep(1.0)
                    return
                self.pool_blocked.pop(template, None)
                self.pools.setdefault(template, deque()).append(record)
        finally:
            self._starting[template] -= 1

    async def fill_pools(self, timeout: float = 60.0) -> bool:
        """Refill now and wait until every pool is full (for benchmarks and tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._refill()
            targets = self.pool_targets()
            if all(self.ready_count(t) >= n for t, n in targets.items()):
                return True
            await asyncio.sleep(0.02)
        return False
