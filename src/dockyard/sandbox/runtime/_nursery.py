"""`Nursery`: the node's zygote sandbox, which forks new sandboxes instead of starting them.

Sandbox feature, node side. Starting a sandbox with bubblewrap costs a launcher chain and a
Python start-up (tens of milliseconds of CPU); the nursery pays for them once. It is a
bubblewrap sandbox like any other (same read-only userland, uid 65534, own user namespace
with nested user namespaces refused, own cgroup) except that it keeps its capabilities
inside its own user namespace, has no seccomp filter, and sees the sandboxes' state
directories. Its only process, `zygote.py`, forks each new sandbox into fresh mount, pid,
ipc and uts namespaces and a clean network namespace (a new one, or one an ended sandbox
left with nothing in it), where the child mounts its own /proc, /tmp and quota'd home,
drops every capability, sets no_new_privs and installs the node's seccomp filter before it
runs the daemon (see `zygote.py`).

`spawn(spec)` creates the sandbox's state directory, takes a cgroup with the sandbox's
limits from the nursery's `CgroupPool` (one an earlier sandbox emptied, else a new one),
asks the zygote for a child, learns the child's host pid from the kernel
(SCM_CREDENTIALS), moves it into the cgroup before it does anything else, and returns an
ordinary `Box` (recorded in ``box.json``, adopted, frozen and killed like any other).
`release(box)` kills one (waiting on the event loop) and hands its emptied cgroup back to
the pool. Sandboxes forked this way live in the nursery's pid namespace, so the nursery
must outlive them: it is started in its own session, survives control-plane restarts
(`adopt`), and is killed only when no sandbox needs it. It sees the volumes' directory
too, and the archives sandboxes are restored from (snapshots, forks, hibernation): a child
binds the volumes it was given (below its home, or in /mnt, /data or /workspace), opens the
archive it was given, and covers the rest. Sandboxes with network access or with a volume
elsewhere are started with bubblewrap directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from dockyard.node.sandbox.isolation import (
    SANDBOX_GID,
    SANDBOX_PATH,
    SANDBOX_UID,
    PodCgroup,
    SandboxError,
    SandboxLimits,
    cgroup_driver,
    check_traversable,
    create_pod_cgroup,
    find_tools,
    userland_args,
)
from dockyard.sandbox.runtime._box import (
    HOME,
    SANDBOX_PYTHON,
    Box,
    BoxSpec,
    NodeFiles,
    prepare_state_dir,
)
from dockyard.sandbox.runtime._cgroup_pool import CgroupPool
from dockyard.sandbox.runtime._joiner import Joiner

SOCKET_NAME = "z.sock"
#: Runs blocking work off the event loop: ``await blocking(fn, *args)``.
Blocking = Callable[..., Awaitable[Any]]
#: The nursery's own cgroup: the zygote, and each child until it is placed in its own. No
#: memory limit: what a child allocated before it was placed (its page tables, a few
#: kernel structures) stays charged here while it lives, and an OOM kill of the zygote
#: would end every sandbox it forked. Nothing untrusted ever runs in this cgroup.
_LIMITS = SandboxLimits(memory_bytes=None, cpu_millis=None, pids=4096, tmp_bytes=16 << 20)
_SPAWN_TIMEOUT_SECONDS = 10.0
_EMPTY_WAIT_SECONDS = 0.5
_START_TIMEOUT_SECONDS = 20.0


def _bwrap_argv(
    bwrap: str,
    state: Path,
    boxes_dir: Path,
    files: NodeFiles,
    volumes_dir: Path | None,
    archive_dirs: dict[str, Path],
) -> list[str]:
    extra = ["--bind", str(volumes_dir), VOLUMES] if volumes_dir is not None else []
    for kind, directory in archive_dirs.items():
        extra += ["--ro-bind", str(directory), ARCHIVES[kind]]
    return [
        bwrap,
        "--unshare-all",
        "--unshare-user", "--disable-userns",
        "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID),
        # Capabilities inside the nursery's own user namespace only: what the zygote needs
        # to build each child's namespaces; every child drops them all.
        "--cap-add", "ALL",
        "--hostname", "sandbox",
        "--die-with-parent", "--new-session",
        "--clearenv", "--setenv", "PATH", SANDBOX_PATH,
        *userland_args(),
        "--proc", "/proc", "--dev", "/dev",
        "--size", str(_LIMITS.tmp_bytes), "--tmpfs", "/tmp",
        "--dir", HOME, "--dir", "/.dockyard/run",
        *(arg for top in MOUNT_TOPS for arg in ("--dir", top)),
        "--ro-bind", str(files.daemon), f"/.dockyard/bin/sandboxd{files.daemon.suffix}",
        "--ro-bind", str(files.kernel), f"/.dockyard/bin/kernel{files.kernel.suffix}",
        "--ro-bind", str(files.zygote), f"/.dockyard/bin/zygote{files.zygote.suffix}",
        "--ro-bind", str(files.seccomp), "/.dockyard/seccomp.bpf",
        "--bind", str(boxes_dir), "/.dockyard/boxes",
        *extra,
        "--bind", str(state / "run"), "/.dockyard/zrun",
        "--remount-ro", "/",
        "--chdir", "/",
        "--json-status-fd", "3",
        SANDBOX_PYTHON, "-I", "-S", f"/.dockyard/bin/zygote{files.zygote.suffix}",
        f"/.dockyard/zrun/{SOCKET_NAME}",
    ]  # fmt: skip


def _key(state: Path) -> str:
    """One nursery per control plane (data directory) on this host."""
    return hashlib.sha256(str(state.resolve()).encode()).hexdigest()[:16]


#: The nursery's state file naming the host directory bound as its sandboxes' directories.
_BOXES_RECORD = "boxes-dir"
#: The nursery's state file naming the host directory of volumes bound into it and the
#: top-level directories its children can mount volumes in (absent: started by a build
#: that bound none, so sandboxes with volumes go through bubblewrap).
_VOLUMES_RECORD = "volumes.json"
#: Where the nursery sees the volumes; each child binds its own and covers the rest.
VOLUMES = "/.dockyard/volumes"
#: Empty top-level directories of the nursery's (read-only) root where its children can
#: mount volumes besides the home: a child mounts a small tmpfs there to make the mount
#: points (or binds onto the directory itself).
MOUNT_TOPS = ("/mnt", "/data", "/workspace")
#: The nursery's state file naming the host directories of archives bound into it, by kind
#: (absent: started by a build that bound none, so restored sandboxes use bubblewrap).
_ARCHIVES_RECORD = "archive-dirs"
#: Where the nursery sees the archives sandboxes are restored from, by kind: a child opens
#: its own archive and covers these before the sandbox runs.
ARCHIVES = {"saved": "/.dockyard/saved", "hibernated": "/.dockyard/hibernated"}


def started_boxes_dir(state: Path, legacy: Path | None = None) -> Path | None:
    """The sandboxes' directory the nursery at `state` was started with: its record, else
    `legacy` (builds before the record kept them there); None when neither is a directory."""
    try:
        recorded: Path | None = Path((state / _BOXES_RECORD).read_text().strip())
    except OSError:
        recorded = legacy
    return recorded if recorded is not None and recorded.is_dir() else None


class Nursery:
    def __init__(
        self,
        box: Box,
        boxes_dir: Path,
        volumes_dir: Path | None = None,
        archive_dirs: dict[str, Path] | None = None,
        mount_tops: tuple[str, ...] = (),
    ) -> None:
        self.box = box
        self.boxes_dir = boxes_dir
        #: The host directory of volumes its zygote sees (None: it sees none).
        self.volumes_dir = volumes_dir
        #: Top-level directories besides the home where its children mount volumes.
        self.mount_tops = mount_tops
        #: The host directories of archives its zygote sees, by kind.
        self.archive_dirs = dict(archive_dirs or {})
        check_traversable(boxes_dir)  # once: every sandbox's directory is made in it
        self.cgroups = CgroupPool(_key(box.state_dir)[:8])
        self._socket = str(self.socket_path)  # connected to for every sandbox
        self._joiner = Joiner()

    @property
    def socket_path(self) -> Path:
        return self.box.state_dir / "run" / SOCKET_NAME

    @classmethod
    def start(
        cls,
        state: Path,
        boxes_dir: Path,
        files: NodeFiles,
        volumes_dir: Path | None = None,
        archive_dirs: dict[str, Path] | None = None,
    ) -> Nursery:
        """Start the nursery and wait until its zygote accepts requests; with
        `volumes_dir`, its sandboxes can mount volumes below their home; with
        `archive_dirs` (``saved`` and/or ``hibernated``), they can be restored from the
        archives there. Raises SandboxError (nothing left running) when this node cannot
        run it."""
        archive_dirs = {k: v for k, v in (archive_dirs or {}).items() if k in ARCHIVES}
        bwrap, _ = find_tools()
        prepare_state_dir(state)
        cgroup = create_pod_cgroup(f"sbx-nursery-{_key(state)}", _LIMITS, cgroup_driver())
        (state / _BOXES_RECORD).write_text(str(boxes_dir))
        for record in (_VOLUMES_RECORD, _ARCHIVES_RECORD):
            with contextlib.suppress(FileNotFoundError):
                (state / record).unlink()
        if volumes_dir is not None:
            (state / _VOLUMES_RECORD).write_text(
                json.dumps({"dir": str(volumes_dir), "tops": list(MOUNT_TOPS)})
            )
        (state / _ARCHIVES_RECORD).write_text(
            json.dumps({k: str(v) for k, v in archive_dirs.items()})
        )
        argv = _bwrap_argv(bwrap, state, boxes_dir, files, volumes_dir, archive_dirs)
        box = Box.launch(state, cgroup, argv)
        tops = MOUNT_TOPS if volumes_dir is not None else ()
        nursery = cls(box, boxes_dir, volumes_dir, archive_dirs, tops)
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not nursery.socket_path.exists():
            if not box.alive() or time.monotonic() > deadline:
                reason = box.failure() or "the zygote exited during start"
                box.kill()
                raise SandboxError(f"sandbox nursery failed to start: {reason}")
            time.sleep(0.005)
        return nursery

    @classmethod
    def adopt(
        cls, state: Path, boxes_dir: Path, legacy_boxes_dir: Path | None = None
    ) -> Nursery | None:
        """The nursery a previous control plane started, if it still runs. Its sandboxes'
        directories stay where it was started to make them (its mount namespace binds that
        directory): the one it recorded, else — started by a build that recorded none —
        `legacy_boxes_dir` when that exists; `boxes_dir` otherwise. The caller makes new
        sandboxes' directories in the returned nursery's `boxes_dir`."""
        box = Box.adopt(state)
        if box is None:
            return None
        try:
            volumes = json.loads((state / _VOLUMES_RECORD).read_text())
            volumes_dir: Path | None = Path(volumes["dir"])
            tops = tuple(str(top) for top in volumes.get("tops") or ())
        except (OSError, ValueError, KeyError, TypeError):
            volumes_dir, tops = None, ()
        try:
            recorded = json.loads((state / _ARCHIVES_RECORD).read_text())
            archive_dirs = {k: Path(v) for k, v in recorded.items() if k in ARCHIVES}
        except (OSError, ValueError, AttributeError):
            archive_dirs = {}
        boxes = started_boxes_dir(state, legacy_boxes_dir) or boxes_dir
        nursery = cls(box, boxes, volumes_dir, archive_dirs, tops)
        if not nursery.socket_path.exists():
            box.kill()
            return None
        return nursery

    def alive(self) -> bool:
        return self.box.alive()

    def _archive_kind(self, archive: Path) -> str | None:
        """The kind of directory its zygote sees `archive` in (None: it does not)."""
        return next((k for k, d in self.archive_dirs.items() if archive.parent == d), None)

    def can_make(self, spec: BoxSpec) -> bool:
        """Whether its zygote can fork `spec`: no network, an archive to restore (if any)
        from a directory it sees, and volumes (if any) from the directory it sees, mounted
        below the home or in one of its `mount_tops`."""
        if spec.network:
            return False
        if spec.restore_archive is not None and self._archive_kind(spec.restore_archive) is None:
            return False
        places = (HOME, *self.mount_tops)
        return all(
            self.volumes_dir is not None
            and directory.parent == self.volumes_dir
            and any(path.startswith(place + "/") or path in self.mount_tops for place in places)
            for directory, path in spec.volumes
        )

    def kill(self) -> None:
        """Kill the nursery and with it every sandbox it forked; remove spare cgroups."""
        self.close()
        self.box.kill()
        self.cgroups.clear()

    def close(self) -> None:
        """Let go of the nursery (it keeps running): end the thread that joins forked
        sandboxes to their cgroups."""
        self._joiner.close()

    async def release(self, box: Box, blocking: Blocking, signalled: bool = False) -> None:
        """Kill a sandbox and return once its processes are gone (`signalled`: SIGKILL was
        sent already). The wait runs on the event loop (the first process's pidfd, then
        the cgroup's process list); its cgroup is kept for the next sandbox when this
        nursery made it and it is empty, else removed. `blocking` runs the slow fallback
        (a sandbox that does not end at once) off the loop."""
        if not self.cgroups.owns(box.cgroup):
            await blocking(box.kill)
            return
        if not signalled:
            box.signal_kill()
        # Its pid 1 is gone only once every other process of its pid namespace is (the
        # cgroup may list the exited pid 1 a few milliseconds longer).
        if await box.first_gone(5.0):
            deadline = time.monotonic() + _EMPTY_WAIT_SECONDS
            while box.cgroup.has_processes():
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.001)
            else:
                self.cgroups.give_back(box.cgroup, emptied=True)
                return
        await blocking(self._kill_leftover, box)

    def _kill_leftover(self, box: Box) -> None:
        """Kill what is left of a sandbox that did not end when signalled (blocking) and
        hand its cgroup back (kept only once empty)."""
        box.kill(remove_cgroup=False)
        self.cgroups.give_back(box.cgroup)

    async def spawn(self, spec: BoxSpec, blocking: Blocking) -> Box:
        """A new sandbox forked by the zygote, returned once its daemon accepts connections.
        The conversation with the zygote runs on the event loop; what may wait in the
        kernel runs off it: making a cgroup (`blocking`), joining one (the nursery's
        `Joiner` thread). Raises SandboxError, leaving nothing behind, when it cannot be
        made."""
        if not self.can_make(spec):
            raise SandboxError(
                "the nursery makes sandboxes without network, restored from archives it "
                "sees, with volumes below the home only"
            )
        if spec.state_dir.parent != self.boxes_dir:
            raise SandboxError(f"{spec.state_dir} is not under {self.boxes_dir}")
        prepare_state_dir(spec.state_dir, check=False, status=False)
        limits = SandboxLimits(spec.memory_bytes, spec.cpu_millis, spec.pids, spec.tmp_bytes)
        cgroup = self.cgroups.spare(limits)
        if cgroup is None:
            cgroup, _ = await blocking(self.cgroups.take, limits)
        request = {
            "id": spec.sandbox_id,
            "home_bytes": spec.home_bytes,
            "tmp_bytes": spec.tmp_bytes,
            "hostname": spec.hostname,
            "env": spec.env,
            "volumes": [[directory.name, path] for directory, path in spec.volumes],
        }
        if spec.restore_archive is not None:
            os.chmod(spec.restore_archive, 0o644)  # the child opens it as the sandbox user
            request["restore"] = [self._archive_kind(spec.restore_archive),
                                  spec.restore_archive.name]  # fmt: skip
        loop = asyncio.get_running_loop()
        pid: int | None = None
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.setblocking(False)
                async with asyncio.timeout(_SPAWN_TIMEOUT_SECONDS):
                    await loop.sock_connect(conn, self._socket)
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
                    await loop.sock_sendall(conn, (json.dumps(request) + "\n").encode())
                    pid = await _child_pid(loop, conn)
                    # Placed before it runs anything of its own: every later process, and
                    # every page it touches from now on, is the sandbox's (cgroup v1 also
                    # moves what it touched since the fork: the pool turns that on for
                    # each cgroup). Off the loop: v1 waits for an RCU grace period.
                    await self._joiner.join(cgroup.open_procs(), pid)
                    await loop.sock_sendall(conn, b"g")
                    reply = await _line(loop, conn)
            if not reply.get("ok"):
                raise SandboxError(f"sandbox {spec.sandbox_id}: {reply.get('error')}")
            return Box.record(spec.state_dir, pid, cgroup)
        except BaseException as exc:  # a cancelled caller too: nothing may be left running
            await asyncio.shield(blocking(self._abandon, pid, cgroup))
            if isinstance(exc, SandboxError) or not isinstance(exc, Exception):
                raise
            raise SandboxError(f"sandbox nursery cannot make {spec.sandbox_id}: {exc}") from exc

    def _abandon(self, pid: int | None, cgroup: PodCgroup) -> None:
        """Kill a child that could not be made into a sandbox and give its cgroup back
        (blocking)."""
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        cgroup.kill_all()
        self.cgroups.give_back(cgroup)


async def _readable(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
    """Return once `conn` has data (or its peer closed)."""
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(conn.fileno(), wake)
    try:
        await ready
    finally:
        loop.remove_reader(conn.fileno())


async def _child_pid(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> int:
    """The host pid the kernel attached to the child's first message, or the zygote's
    error."""
    while True:
        await _readable(loop, conn)  # the zygote answers only once it has forked
        try:
            data, ancillary, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(struct.calcsize("3i")))
            break
        except BlockingIOError:
            continue
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and data == b"c":
            pid: int = struct.unpack("3i", payload[: struct.calcsize("3i")])[0]
            return pid
    try:
        message = json.loads(data) if data else {}
    except ValueError:
        message = {}
    raise SandboxError(f"sandbox nursery: {message.get('error') or 'no child started'}")


async def _line(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> dict[str, object]:
    data = b""
    while not data.endswith(b"\n"):
        await _readable(loop, conn)  # the child answers once its set-up is done
        try:
            chunk = conn.recv(4096)
        except BlockingIOError:
            continue
        if not chunk:
            break
        data += chunk
    if not data:
        return {"error": "the child exited during its set-up"}
    reply: dict[str, object] = json.loads(data)
    return reply
