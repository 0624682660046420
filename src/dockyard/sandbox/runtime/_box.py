"""`Box`: one long-lived agent sandbox on this node — start, find again, freeze, thaw, kill.

Sandbox feature, node side. Built from the node's isolation building blocks
(`dockyard.node.sandbox.isolation`), so it shares the Pod sandbox's read-only userland,
privilege drop (uid 65534, no capabilities, no_new_privs) and per-sandbox cgroup, and adds:

- a seccomp filter (`seccomp_program`) installed by bubblewrap before the first process;
- ``/home/user`` as a size-capped tmpfs: the disk quota (ENOSPC at the limit; its pages are
  charged to the sandbox's memory cgroup, and hibernation writes it to disk);
- all namespaces, the network one included unless `BoxSpec.network` (then the host's);
- the daemon (`sandboxd.py`) as the sandbox's process, listening on ``run/d.sock`` in the
  state directory; `ready()` says when it answers;
- a snapshot archive of a hibernated sandbox bind-mounted read-only for the daemon to
  restore (`BoxSpec.restore_archive`).

`prepare_node(directory)` runs once per control-plane start and writes what every sandbox
shares (`NodeFiles`): the seccomp program, compiled once, and the daemon and kernel
compiled to bytecode by the interpreter that runs them inside the sandbox, so no sandbox
pays for compiling them again.

The process tree outlives the control plane (own session, no parent-death signal);
`Box.adopt(state_dir)` finds it again from ``box.json``. State directory::

    state_dir/
      box.json   what adopt() needs (pid, start time, cgroup)   root, 0644
      box.log    launcher and bubblewrap errors
      status/    bubblewrap's child pid, monitor record        65534
      run/d.sock the daemon's socket                             65534
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.node.sandbox.isolation import (
    LAUNCHER,
    MONITOR,
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
    process_running,
    process_start_time,
    seccomp_program,
    userland_args,
)
from dockyard.sandbox.runtime._limits import raise_limits

log = logging.getLogger(__name__)

_RUNTIME_DIR = Path(__file__).resolve().parent
DAEMON_SOURCE = _RUNTIME_DIR / "sandboxd.py"
KERNEL_SOURCE = _RUNTIME_DIR / "kernel.py"
ZYGOTE_SOURCE = _RUNTIME_DIR / "zygote.py"
SOCKET_NAME = "d.sock"
HOME = "/home/user"
SANDBOX_PYTHON = "/usr/bin/python3"
_LAUNCH_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
# The daemon is started with the first free fd at or above this number for the filter.
_SECCOMP_FD_MIN = 10


@dataclass(frozen=True)
class BoxSpec:
    """What one sandbox gets. Sizes in bytes; `cpu_millis` None means unlimited."""

    sandbox_id: str
    state_dir: Path
    memory_bytes: int = 512 << 20
    cpu_millis: int | None = 1000
    pids: int = 256
    home_bytes: int = 1 << 30
    tmp_bytes: int = 256 << 20
    network: bool = False
    env: dict[str, str] = field(default_factory=dict)
    restore_archive: Path | None = None
    hostname: str = "sandbox"
    #: Host directories bound read-write into the sandbox: (directory, absolute path).
    volumes: tuple[tuple[Path, str], ...] = ()


@dataclass(frozen=True)
class NodeFiles:
    """Files every sandbox on this node shares, written by `prepare_node`."""

    seccomp: Path
    daemon: Path = DAEMON_SOURCE
    kernel: Path = KERNEL_SOURCE
    zygote: Path = ZYGOTE_SOURCE


def _write_json(path: str, data: dict[str, Any]) -> None:
    """Write `path` (0644) with one write(). A reader (`Box.adopt`) takes a missing, empty
    or cut-off record alike for "no sandbox here", which is what a crash before the write
    means too; a single write() is never cut off by the writer's crash, and the state
    directory does not outlive a machine crash's processes anyway."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.fchmod(fd, 0o644)  # whatever the umask
        data_bytes = json.dumps(data).encode()
        if os.write(fd, data_bytes) != len(data_bytes):
            raise OSError(f"short write to {path}")
    finally:
        os.close(fd)


def _clear(directory: str) -> None:
    """Remove the files a previous sandbox left in `directory`."""
    with os.scandir(directory) as entries:
        for stale in entries:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stale.path)


def prepare_state_dir(state: Path, check: bool = True, status: bool = True) -> None:
    """Create a sandbox's state directory (``run/`` and, with `status`, ``status/`` owned
    by the sandbox user) and clear what a previous sandbox left in it; `check` first makes
    sure the sandbox user can reach it (callers that checked the parent already skip
    that)."""
    if check:
        state.parent.mkdir(parents=True, exist_ok=True)
        check_traversable(state.parent)
    root = os.geteuid() == 0
    for path, owner in ((str(state), 0), *(((f"{state}/status", SANDBOX_UID),) if status else ()),
                        (f"{state}/run", SANDBOX_UID)):  # fmt: skip
        try:
            os.mkdir(path)
        except FileExistsError:
            if owner:
                _clear(path)
        os.chmod(path, 0o755 if owner == 0 else 0o700)
        if root:
            os.chown(path, owner, owner)


def remove_state_dir(state: str | Path) -> None:
    """Remove a sandbox's state directory (gone already is fine). The usual layout — files
    at the top, plain files in ``run/`` and ``status/`` — goes with one call per entry;
    anything else (a directory the sandbox made in ``run/``) with `shutil.rmtree`, which
    never follows symbolic links."""
    try:
        with os.scandir(state) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    with os.scandir(entry.path) as inner:
                        for item in inner:
                            os.unlink(item.path)
                    os.rmdir(entry.path)
                else:
                    os.unlink(entry.path)
        os.rmdir(state)
    except OSError:
        shutil.rmtree(state, ignore_errors=True)


def _bwrap_argv(bwrap: str, spec: BoxSpec, seccomp_fd: int, files: NodeFiles) -> list[str]:
    state = spec.state_dir
    argv = [
        bwrap,
        "--unshare-all",
        *(["--share-net"] if spec.network else []),
        "--unshare-user", "--disable-userns",
        "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID),
        "--hostname", spec.hostname,
        "--die-with-parent", "--new-session", "--cap-drop", "ALL",
        "--clearenv", "--setenv", "PATH", SANDBOX_PATH,
        *userland_args(),
        "--proc", "/proc", "--dev", "/dev",
        "--perms", "1777", "--size", str(spec.tmp_bytes), "--tmpfs", "/tmp",
        "--perms", "0700", "--size", str(spec.home_bytes), "--tmpfs", HOME,
        "--ro-bind", str(files.daemon), f"/.dockyard/bin/sandboxd{files.daemon.suffix}",
        "--ro-bind", str(files.kernel), f"/.dockyard/bin/kernel{files.kernel.suffix}",
        "--bind", str(state / "run"), "/.dockyard/run",
    ]  # fmt: skip
    if spec.restore_archive is not None:
        argv += ["--ro-bind", str(spec.restore_archive), "/.dockyard/restore.tar"]
    for directory, path in spec.volumes:
        argv += ["--bind", str(directory), path]
    for key, value in spec.env.items():
        argv += ["--setenv", key, value]
    argv += [
        "--remount-ro", "/",
        "--chdir", "/",
        "--seccomp", str(seccomp_fd),
        "--json-status-fd", "3",
        SANDBOX_PYTHON, "-I", "-S", f"/.dockyard/bin/sandboxd{files.daemon.suffix}",
        f"/.dockyard/run/{SOCKET_NAME}",
    ]  # fmt: skip
    return argv


class Box:
    """Handle on one running sandbox; obtain it from `start` or `adopt`."""

    def __init__(
        self,
        state_dir: Path,
        pid: int,
        start_time: int | None,
        cgroup: PodCgroup,
        process: subprocess.Popen[bytes] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.pid = pid
        self._start_time = start_time
        self.cgroup = cgroup
        self._process = process
        self._json: dict[str, Any] | None = None
        self._socket = f"{state_dir}/run/{SOCKET_NAME}"

    @property
    def socket_path(self) -> Path:
        return self.state_dir / "run" / SOCKET_NAME

    @classmethod
    def start(cls, spec: BoxSpec, files: NodeFiles) -> Box:
        """Create the state directory and cgroup and spawn the sandbox; returns once the
        launcher runs (`ready()` says when the daemon answers). Raises SandboxError, leaving
        nothing running, when the host cannot run it."""
        bwrap, _ = find_tools()
        prepare_state_dir(spec.state_dir)
        if spec.restore_archive is not None:
            os.chmod(spec.restore_archive, 0o644)
        cgroup = create_pod_cgroup(
            f"sbx-{spec.sandbox_id}",
            SandboxLimits(spec.memory_bytes, spec.cpu_millis, spec.pids, spec.tmp_bytes),
            cgroup_driver(),
        )
        raw = os.open(files.seccomp, os.O_RDONLY | os.O_CLOEXEC)
        # Above 3, which the monitor uses for bubblewrap's status (atomic: F_DUPFD).
        seccomp_fd = fcntl.fcntl(raw, fcntl.F_DUPFD_CLOEXEC, _SECCOMP_FD_MIN)
        os.close(raw)
        try:
            return cls.launch(
                spec.state_dir, cgroup, _bwrap_argv(bwrap, spec, seccomp_fd, files), (seccomp_fd,)
            )
        finally:
            os.close(seccomp_fd)

    @classmethod
    def launch(
        cls, state: Path, cgroup: PodCgroup, bwrap_argv: list[str], pass_fds: tuple[int, ...] = ()
    ) -> Box:
        """Run `bwrap_argv` under the node's launcher (cgroup join, privilege drop, monitor)
        in a new session and record it in ``box.json``. Raises SandboxError, removing the
        cgroup, when it cannot be spawned."""
        try:
            argv = [
                "/bin/sh", "-c", LAUNCHER, "dockyard-launch", str(state), MONITOR,
                str(len(cgroup.procs_files)), *(str(p) for p in cgroup.procs_files),
                *bwrap_argv,
            ]  # fmt: skip
            with (state / "box.log").open("ab") as box_log:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=box_log,
                    stderr=box_log,
                    cwd=state,
                    env=_LAUNCH_ENV,
                    pass_fds=pass_fds,
                    start_new_session=True,
                )
        except OSError as exc:
            cgroup.remove()
            raise SandboxError(f"cannot start sandbox in {state}: {exc}") from exc
        return cls.record(state, process.pid, cgroup, process)

    @classmethod
    def record(
        cls,
        state: Path,
        pid: int,
        cgroup: PodCgroup,
        process: subprocess.Popen[bytes] | None = None,
    ) -> Box:
        """The sandbox whose first process is `pid`, written to ``box.json`` for `adopt`.
        Raises SandboxError (the sandbox killed) when it cannot be written."""
        box = cls(state, pid, process_start_time(pid), cgroup, process)
        try:
            _write_json(f"{state}/box.json", box.to_json())
        except OSError as exc:
            box.kill()
            raise SandboxError(f"cannot record sandbox in {state}: {exc}") from exc
        return box

    def to_json(self) -> dict[str, Any]:
        """What `adopt` needs (made once: a box's process and cgroup never change; the
        caller must not modify it)."""
        if self._json is None:
            self._json = {"pid": self.pid, "start_time": self._start_time,
                          "cgroup": self.cgroup.to_json()}  # fmt: skip
        return self._json

    @classmethod
    def adopt(cls, state_dir: Path) -> Box | None:
        """The sandbox recorded in `state_dir` if it still runs, else None (its leftover
        cgroup is removed)."""
        try:
            meta = json.loads((state_dir / "box.json").read_text())
            box = cls(state_dir, int(meta["pid"]), meta["start_time"],
                      PodCgroup.from_json(meta["cgroup"]))  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if box.alive():
            return box
        box.remove_leftovers()
        return None

    def remove_leftovers(self) -> None:
        """For a sandbox whose first process is gone: kill whatever is left in its cgroup
        and remove the cgroup. Never signals by pid: the recorded one may belong to an
        unrelated process by now."""
        self.cgroup.kill_all()
        if not self.cgroup.remove():
            log.warning("cgroup of sandbox %s left in place", self.state_dir)

    def alive(self) -> bool:
        if self._process is not None:
            return self._process.poll() is None
        return process_running(self.pid, self._start_time)

    def ready(self) -> bool:
        """True once the daemon's socket exists (it is renamed into place only once the
        daemon accepts connections)."""
        return os.path.exists(self._socket)

    def failure(self) -> str:
        """The launcher's and bubblewrap's error output, for reporting a failed start."""
        try:
            return (self.state_dir / "box.log").read_text()[-2000:].strip()
        except OSError:
            return ""

    def freeze(self) -> None:
        """Stop every process of the sandbox (memory kept). Raises SandboxError."""
        self.cgroup.freeze()

    def thaw(self) -> None:
        self.cgroup.thaw()

    def frozen(self) -> bool:
        return self.cgroup.frozen()

    def memory_bytes(self) -> int | None:
        """Memory charged to the sandbox's cgroup now (v1 usage or v2 current)."""
        for directory in self.cgroup.dirs:
            for name in ("memory.current", "memory.usage_in_bytes"):
                with contextlib.suppress(OSError, ValueError):
                    return int((directory / name).read_text())
        return None

    def signal_kill(self, paused: bool = False) -> None:
        """Send SIGKILL to the sandbox without waiting (irrevocable: the sandbox is gone
        once the kernel has run its exits). Its first process leads the sandbox's
        process group (and, when forked by the nursery, is pid 1 of its pid namespace, so
        the kernel kills the rest); the cgroup is signalled too for the others. A
        `paused` sandbox is thawed (v1 frozen tasks die only once they run again)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, 9)
        if self.cgroup.kill_file is not None:
            with contextlib.suppress(OSError):
                self.cgroup.kill_file.write_text("1")
        if paused:
            with contextlib.suppress(SandboxError):
                self.cgroup.thaw()

    def _first_pidfd(self) -> int | bool:
        """A pidfd on the sandbox's first process while it runs; True when it is gone
        already (or its pid was reused), False when no pidfd can be had."""
        try:
            pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        if not self.alive():  # the pid was reused: ours is gone
            os.close(pidfd)
            return True
        return pidfd

    def wait_first_gone(self, timeout: float) -> bool:
        """Wait until the sandbox's first process has exited (a pidfd, no polling); True
        once it has. For a sandbox forked by the nursery that process is pid 1 of the
        sandbox's pid namespace: the kernel ends every other process before it."""
        pidfd = self._first_pidfd()
        if isinstance(pidfd, bool):
            return pidfd
        try:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            return bool(poller.poll(timeout * 1000))
        finally:
            os.close(pidfd)

    async def first_gone(self, timeout: float) -> bool:
        """`wait_first_gone` on the running event loop: the pidfd is watched by the loop,
        so no thread waits."""
        pidfd = self._first_pidfd()
        if isinstance(pidfd, bool):
            return pidfd
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()

        def finish(gone: bool) -> None:
            if not done.done():
                done.set_result(gone)

        loop.add_reader(pidfd, finish, True)
        timer = loop.call_later(timeout, finish, False)
        try:
            return await done
        finally:
            timer.cancel()
            loop.remove_reader(pidfd)
            os.close(pidfd)

    def kill(self, remove_cgroup: bool = True) -> None:
        """Kill every process of the sandbox and remove its cgroup (blocking until they
        are gone; with `remove_cgroup` False the emptied cgroup stays). Idempotent."""
        self.signal_kill(paused=self.cgroup.frozen())
        if self._process is None:
            self.wait_first_gone(5.0)
        self.cgroup.kill_all()
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5)
        else:
            deadline = time.monotonic() + 5
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.005)
        if remove_cgroup and not self.cgroup.remove():
            log.warning("cgroup of sandbox %s left in place", self.state_dir)


def _compile(source: Path, target: Path) -> Path:
    """`source` compiled to bytecode at `target` by the sandbox's interpreter, or `source`
    itself when that fails (the sandbox then compiles it on every start)."""
    script = (
        "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], "
        "doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)"
    )
    partial = target.with_name(f".{target.name}.tmp")
    try:
        subprocess.run(
            [SANDBOX_PYTHON, "-I", "-S", "-c", script, str(source), str(partial)],
            check=True,
            capture_output=True,
            timeout=30,
            env=_LAUNCH_ENV,
        )
        os.chmod(partial, 0o644)
        os.replace(partial, target)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("cannot precompile %s, sandboxes compile it at start: %s", source.name, exc)
        partial.unlink(missing_ok=True)
        return source
    return target


def prepare_node(directory: Path) -> NodeFiles:
    """Write the seccomp program and the compiled daemon and kernel under `directory`
    (once per control-plane start; readable by the sandbox user), and raise the per-user
    kernel limits all sandboxes share (see `_limits`)."""
    raise_limits()
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    seccomp = directory / "seccomp.bpf"
    seccomp.write_bytes(seccomp_program())
    os.chmod(seccomp, 0o644)
    return NodeFiles(
        seccomp=seccomp,
        daemon=_compile(DAEMON_SOURCE, directory / "sandboxd.pyc"),
        kernel=_compile(KERNEL_SOURCE, directory / "kernel.pyc"),
        zygote=_compile(ZYGOTE_SOURCE, directory / "zygote.pyc"),
    )
