"""The daemon inside every agent sandbox: runs commands, serves files, hosts code contexts.

Runs as the sandbox's process (uid 65534, no capabilities, under seccomp) with the host's
/usr/bin/python3; standard library only, never imports dockyard. Forked by the node's
nursery it is pid 1 of the sandbox and also reaps orphans (`Children`); started by
bubblewrap it runs under bubblewrap's init. The control plane reaches it over a Unix
socket (argv[1]) bind-mounted out of the sandbox. Each connection
carries one request: a JSON line ``{"op": ...}``, answered by JSON lines; the last one has
``"final": true`` and, on failure, ``"error": {"code", "message"}`` with code one of
``not_found``, ``invalid``, ``exists``, ``internal``. Ops that move bytes (``read``,
``write``, ``snapshot``) put raw bytes after a JSON header line whose ``size`` says how many.

Ops: ``health``; ``exec`` (streams ``start``, ``stdout``/``stderr`` base64 chunks, or
``pty`` chunks for a command started on a terminal with ``"pty": {"rows", "cols"}``,
``end``), ``resize`` (a terminal's size), ``attach``, ``list_procs``, ``signal``,
``input``, ``close_stdin``; ``stat``, ``list_dir``, ``mkdir``, ``move``, ``remove``,
``read``, ``write``, ``watch`` (streams a directory's events), ``watch_create``,
``watch_events``, ``watch_remove`` (the same, polled); ``execute`` (code, streams the code
interpreter's events), ``context_create``, ``context_list``, ``context_delete``,
``context_restart``; ``snapshot`` (tar of the home and the contexts' saved globals,
``unsaved`` names and the history in the header). On start, an archive at
``/.dockyard/restore.tar`` (a hibernated sandbox's snapshot) is unpacked and its contexts
are restored.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal.signal without its enum wrapper
import _thread
import base64
import contextlib
import fcntl
import json
import os
import queue
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import termios
import threading
import time
import weakref

# typing is for the type checker only: importing it costs every sandbox's start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import IO, Any, BinaryIO

HOME = "/home/user"
STATE_DIR = "/tmp/.dockyard-state"
#: What a snapshot archive holds, relative to /.
_SAVED = (HOME[1:], STATE_DIR[1:])
RESTORE_ARCHIVE = "/.dockyard/restore.tar"
# The node ships the kernel compiled to bytecode when it can.
KERNEL = next(
    (k for k in ("/.dockyard/bin/kernel.pyc", "/.dockyard/bin/kernel.py") if os.path.exists(k)),
    "/.dockyard/bin/kernel.py",
)
HISTORY_LIMIT = 1000
CHUNK = 65536


class Failure(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _os_failure(exc: OSError, path: str) -> Failure:
    if isinstance(exc, FileNotFoundError):
        return Failure("not_found", f"path '{path}' does not exist")
    if isinstance(exc, FileExistsError):
        return Failure("exists", f"path '{path}' already exists")
    return Failure("invalid", f"{path}: {exc.strerror or exc}")


def resolve(path: str | None, cwd: str = HOME) -> str:
    if not path:
        raise Failure("invalid", "path is required")
    if path.startswith("~"):
        path = HOME + path[1:]
    return os.path.normpath(os.path.join(cwd, path))


class Conn:
    """One request's connection. Reads are buffered by hand: a file object per connection
    would cost each sandbox more pages copied from the zygote."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""

    def readline(self) -> bytes:
        """The next line with its newline (without one at the end of the stream)."""
        data = self._buffer
        while b"\n" not in data:
            chunk = self.sock.recv(CHUNK)
            if not chunk:
                self._buffer = b""
                return data
            data += chunk
        line, _, self._buffer = data.partition(b"\n")
        return line + b"\n"

    def read(self, size: int) -> bytes:
        """Up to `size` bytes (b"" at the end of the stream)."""
        if self._buffer:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
            return data
        return self.sock.recv(size)

    def send(self, message: dict[str, Any]) -> None:
        self.sock.sendall((json.dumps(message) + "\n").encode())

    def final(self, **fields: Any) -> None:
        self.send({"final": True, **fields})


# --- processes -----------------------------------------------------------------------


class Children:
    """Every process the daemon starts, by pid. A sandbox forked by the node's nursery has
    the daemon as its pid 1, to which orphans are reparented: `reap_ended` (run by the
    main loop when SIGCHLD arrives) reaps those and leaves the daemon's own children to
    their `Popen` (so their exit codes are kept)."""

    lock = threading.Lock()
    by_pid: weakref.WeakValueDictionary[int, subprocess.Popen[bytes] | Spawned] = (
        weakref.WeakValueDictionary()
    )

    @classmethod
    def spawn(cls, argv: list[str], **options: Any) -> subprocess.Popen[bytes]:
        with cls.lock:  # registered before the main loop can see it exit
            popen = subprocess.Popen(argv, **options)
            cls.by_pid[popen.pid] = popen
        return popen

    @classmethod
    def reap_ended(cls) -> None:
        """Reap every child that has ended, without waiting for any still running (pid
        1's duty)."""
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None:
                return
            with cls.lock:
                popen = cls.by_pid.pop(info.si_pid, None)
            if popen is not None:
                popen.wait()  # ended: returns at once, and its Popen keeps the status
            else:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(info.si_pid, 0)


class Pipe:
    """The daemon's end of a command's output pipe, read with os.read (no file object:
    fewer pages copied from the zygote)."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Spawned:
    """A command started with posix_spawn (vfork and exec in one call, no Python in
    between): the part of `subprocess.Popen` the daemon uses."""

    def __init__(self, pid: int, stdin: BinaryIO | None, stdout: Pipe, stderr: Pipe) -> None:
        self.pid = pid
        self.stdin = stdin
        self.stdout: Pipe | None = stdout
        self.stderr: Pipe | None = stderr
        self.returncode: int | None = None
        self._lock = threading.Lock()

    @classmethod
    def start(cls, argv: list[str], env: dict[str, str], stdin: bool) -> Spawned:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe() if stdin else (-1, -1)
        actions: list[tuple[Any, ...]] = [
            (os.POSIX_SPAWN_DUP2, out_w, 1),
            (os.POSIX_SPAWN_DUP2, err_w, 2),
            (os.POSIX_SPAWN_DUP2, in_r, 0)
            if stdin
            else (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        ]
        try:
            with Children.lock:  # registered before the main loop can see it exit
                pid = os.posix_spawnp(
                    argv[0], argv, env, file_actions=actions, setsid=True,
                    setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
                )  # fmt: skip
                spawned = cls(pid, os.fdopen(in_w, "wb") if stdin else None,
                              Pipe(out_r), Pipe(err_r))  # fmt: skip
                Children.by_pid[pid] = spawned
        except BaseException:
            for fd in (out_r, err_r, in_w):
                if fd >= 0:
                    os.close(fd)
            raise
        finally:
            for fd in (out_w, err_w, in_r):
                if fd >= 0:
                    os.close(fd)
        return spawned

    def wait(self) -> int:
        with self._lock:
            if self.returncode is None:
                _, status = os.waitpid(self.pid, 0)
                self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode


class Proc:
    """A command started by ``exec``. The thread that started it also reads its output
    (`pump`) and sends it to that request's connection; later ``attach`` requests
    subscribe to what follows."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes] | Spawned,
        request: dict[str, Any],
        pty: int | None = None,
    ) -> None:
        self.popen = popen
        self.request = request
        #: The PTY's controlling side when the command runs on one (its input and output).
        self.pty = pty
        self.subscribers: list[queue.Queue[tuple[str, Any]]] = []
        self.lock = threading.Lock()
        self.end: tuple[str, Any] | None = None

    def subscribe(self) -> queue.Queue[tuple[str, Any]]:
        q: queue.Queue[tuple[str, Any]] = queue.Queue()
        with self.lock:
            if self.end is not None:
                q.put(self.end)
            else:
                self.subscribers.append(q)
        return q

    def unsubscribe(self, q: queue.Queue[tuple[str, Any]]) -> None:
        with self.lock:
            if q in self.subscribers:
                self.subscribers.remove(q)

    def publish(self, event: tuple[str, Any]) -> None:
        with self.lock:
            for q in self.subscribers:
                q.put(event)

    def pump(self, conn: Conn | None) -> None:
        """Read stdout and stderr until both close, streaming them to `conn` (dropped
        once it fails: the process runs on) and to subscribers; then publish the exit."""
        streams: dict[int, tuple[IO[bytes] | Pipe, str]]
        if self.pty is not None:  # closed below, once no input can reach it
            streams = {self.pty: (Pipe(-1), "pty")}
        else:
            streams = {s.fileno(): (s, n) for s, n in ((self.popen.stdout, "stdout"),
                                                       (self.popen.stderr, "stderr")) if s}  # fmt: skip
        poller = select.poll()
        for fd in streams:
            poller.register(fd, select.POLLIN)
        while streams:
            for fd, _ in poller.poll():
                try:
                    data = os.read(fd, CHUNK)
                except OSError:  # EIO: every process holding the PTY's other side ended
                    data = b""
                if not data:
                    poller.unregister(fd)
                    streams.pop(fd)[0].close()
                    continue
                name = streams[fd][1]
                self.publish((name, data))
                if conn is not None:
                    try:
                        conn.send({name: base64.b64encode(data).decode()})
                    except OSError:
                        conn = None
        end = ("end", self.popen.wait())
        with self.lock:
            self.end = end
            subscribers, self.subscribers = self.subscribers, []
            if self.pty is not None:
                os.close(self.pty)
                self.pty = -1  # ended: input to it is refused
        for q in subscribers:
            q.put(end)
        PROCS.pop(self.popen.pid, None)
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.final(end=_end(int(end[1])))


def _end(code: int) -> dict[str, Any]:
    status = f"exit status {code}" if code >= 0 else f"signal: {signal.Signals(-code).name.lower()}"
    return {"exit_code": code, "exited": code >= 0, "status": status}


PROCS: dict[int, Proc] = {}
HISTORY: list[dict[str, Any]] = []


def _remember(entry: dict[str, Any]) -> None:
    HISTORY.append({"time": time.time(), **entry})
    del HISTORY[:-HISTORY_LIMIT]


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(BASE_ENV)
    env.update(extra or {})
    return env


def _window(size: dict[str, Any]) -> bytes:
    """A ``struct winsize`` for TIOCSWINSZ from ``{"rows", "cols"}``."""
    rows, cols = int(size.get("rows") or 24), int(size.get("cols") or 80)
    if not (0 < rows < 65536 and 0 < cols < 65536):
        raise Failure("invalid", f"pty size {rows}x{cols} is out of range")
    return struct.pack("HHHH", rows, cols, 0, 0)


def _take_terminal() -> None:
    """In a PTY command's process, after setsid: its stdin (the PTY) becomes its
    controlling terminal, so job control and terminal signals work."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _spawn_on_pty(
    argv: list[str], cwd: str, env: dict[str, str], size: dict[str, Any]
) -> tuple[subprocess.Popen[bytes], int]:
    """Start `argv` in its own session on a new PTY of `size`; returns it and the PTY's
    controlling side (the daemon's to read and write)."""
    window = _window(size)
    controller, terminal = os.openpty()
    try:
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, window)
        popen = Children.spawn(argv, cwd=cwd, env=env, stdin=terminal, stdout=terminal,
                               stderr=terminal, start_new_session=True,
                               preexec_fn=_take_terminal)  # fmt: skip
    except BaseException:
        os.close(controller)
        raise
    finally:
        os.close(terminal)
    return popen, controller


def op_exec(conn: Conn, request: dict[str, Any]) -> None:
    cmd = request.get("cmd") or "/bin/bash"
    args = [str(a) for a in request.get("args") or []]
    cwd = resolve(request.get("cwd") or HOME)
    _remember({"kind": "command", "cmd": cmd, "args": args, "cwd": cwd})
    env = _env(request.get("envs"))
    popen: subprocess.Popen[bytes] | Spawned
    pty: int | None = None
    try:
        if request.get("pty"):
            popen, pty = _spawn_on_pty([cmd, *args], cwd, env, request["pty"])
        # The common case (the daemon's own directory, the command found on the daemon's
        # PATH) takes the cheaper posix_spawn; anything else goes through Popen.
        elif cwd == HOME and ("/" in cmd or env.get("PATH") == os.environ.get("PATH")):
            popen = Spawned.start([cmd, *args], env, bool(request.get("stdin")))
        else:
            popen = Children.spawn(
                [cmd, *args],
                cwd=cwd,
                env=env,
                stdin=subprocess.PIPE if request.get("stdin") else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
    except OSError as exc:
        raise _os_failure(exc, cwd if isinstance(exc, NotADirectoryError) else cmd) from exc
    proc = Proc(
        popen,
        {
            "cmd": cmd,
            "args": args,
            "cwd": cwd,
            "envs": request.get("envs") or {},
            "tag": request.get("tag"),
        },
        pty,
    )
    PROCS[popen.pid] = proc
    try:
        conn.send({"start": {"pid": popen.pid}})
    except OSError:
        proc.pump(None)
    else:
        proc.pump(conn)


def _stream(conn: Conn, proc: Proc, subscription: queue.Queue[tuple[str, Any]]) -> None:
    try:
        while True:
            kind, value = subscription.get()
            if kind == "end":
                conn.final(end=_end(int(value)))
                return
            conn.send({kind: base64.b64encode(value).decode()})
    except OSError:
        proc.unsubscribe(subscription)  # the caller went away; the process runs on


def _proc(request: dict[str, Any]) -> Proc:
    pid = request.get("pid")
    tag = request.get("tag")
    for proc in list(PROCS.values()):
        if proc.popen.pid == pid or (tag and proc.request.get("tag") == tag):
            return proc
    raise Failure("not_found", f"process {pid or tag} not found")


def op_attach(conn: Conn, request: dict[str, Any]) -> None:
    proc = _proc(request)
    subscription = proc.subscribe()
    conn.send({"start": {"pid": proc.popen.pid}})
    _stream(conn, proc, subscription)


def op_list_procs(conn: Conn, request: dict[str, Any]) -> None:
    conn.final(processes=[{"pid": pid, **p.request} for pid, p in list(PROCS.items())])


def op_signal(conn: Conn, request: dict[str, Any]) -> None:
    proc = _proc(request)
    number = signal.SIGKILL if request.get("signal") == "SIGKILL" else signal.SIGTERM
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.popen.pid, number)
    conn.final()


def op_input(conn: Conn, request: dict[str, Any]) -> None:
    proc = _proc(request)
    data = base64.b64decode(request.get("data") or "")
    if proc.pty is not None:
        with proc.lock:  # the pump closes the PTY under this lock when the command ends
            if proc.pty < 0:
                raise Failure("not_found", f"process {proc.popen.pid} has ended")
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(proc.pty, view) :]
            except OSError as exc:
                raise Failure("invalid", f"pty input: {exc.strerror or exc}") from exc
    elif proc.popen.stdin is None:
        raise Failure("invalid", "process was started without stdin")
    else:
        proc.popen.stdin.write(data)
        proc.popen.stdin.flush()
    conn.final()


def op_resize(conn: Conn, request: dict[str, Any]) -> None:
    """Set a PTY command's terminal size (its foreground processes get SIGWINCH)."""
    proc = _proc(request)
    if proc.pty is None:
        raise Failure("invalid", "process was not started on a pty")
    window = _window(request)
    with proc.lock:
        if proc.pty < 0:
            raise Failure("not_found", f"process {proc.popen.pid} has ended")
        try:
            fcntl.ioctl(proc.pty, termios.TIOCSWINSZ, window)
        except OSError as exc:
            raise Failure("invalid", f"pty resize: {exc.strerror or exc}") from exc
    conn.final()


def op_close_stdin(conn: Conn, request: dict[str, Any]) -> None:
    proc = _proc(request)
    if proc.popen.stdin is not None:
        proc.popen.stdin.close()
    conn.final()


# --- filesystem ----------------------------------------------------------------------


def entry(path: str) -> dict[str, Any]:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        kind, target = "symlink", os.readlink(path)
        try:
            followed = os.stat(path)
            kind = "dir" if stat.S_ISDIR(followed.st_mode) else "file"
        except OSError:
            pass
    else:
        kind, target = ("dir" if stat.S_ISDIR(st.st_mode) else "file"), None
    return {
        "name": os.path.basename(path) or "/",
        "type": kind,
        "path": path,
        "size": st.st_size,
        "mode": stat.S_IMODE(st.st_mode),
        "permissions": stat.filemode(st.st_mode),
        "owner": "user" if st.st_uid == os.getuid() else str(st.st_uid),
        "group": "user" if st.st_gid == os.getgid() else str(st.st_gid),
        "modified": st.st_mtime,
        "symlink_target": target,
    }


def op_stat(conn: Conn, request: dict[str, Any]) -> None:
    path = resolve(request.get("path"))
    try:
        conn.final(entry=entry(path))
    except OSError as exc:
        raise _os_failure(exc, path) from exc


def op_list_dir(conn: Conn, request: dict[str, Any]) -> None:
    root = resolve(request.get("path"))
    depth = max(1, int(request.get("depth") or 1))
    if not os.path.isdir(root):
        raise Failure(
            "not_found" if not os.path.exists(root) else "invalid",
            f"path '{root}' is not a directory",
        )
    entries: list[dict[str, Any]] = []

    def walk(directory: str, level: int) -> None:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            return
        for name in names:
            path = os.path.join(directory, name)
            try:
                info = entry(path)
            except OSError:
                continue
            entries.append(info)
            if level < depth and info["type"] == "dir" and info["symlink_target"] is None:
                walk(path, level + 1)

    walk(root, 1)
    conn.final(entries=entries)


def op_mkdir(conn: Conn, request: dict[str, Any]) -> None:
    path = resolve(request.get("path"))
    try:
        os.makedirs(path)
    except OSError as exc:
        raise _os_failure(exc, path) from exc
    conn.final(entry=entry(path))


def op_move(conn: Conn, request: dict[str, Any]) -> None:
    source = resolve(request.get("source"))
    destination = resolve(request.get("destination"))
    try:
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        os.rename(source, destination)
    except OSError as exc:
        raise _os_failure(exc, source) from exc
    conn.final(entry=entry(destination))


def op_remove(conn: Conn, request: dict[str, Any]) -> None:
    path = resolve(request.get("path"))
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            import shutil  # imported on first use: it pulls in compression modules

            shutil.rmtree(path)
        else:
            os.unlink(path)
    except OSError as exc:
        raise _os_failure(exc, path) from exc
    conn.final()


def op_read(conn: Conn, request: dict[str, Any]) -> None:
    path = resolve(request.get("path"))
    try:
        source = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise _os_failure(exc, path) from exc
    with source:
        if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
            raise Failure("invalid", f"path '{path}' is not a file")
        size = os.fstat(source.fileno()).st_size
        conn.send({"final": True, "size": size})
        left = size
        while left > 0:
            data = source.read(min(CHUNK * 16, left))
            if not data:
                break
            conn.sock.sendall(data)
            left -= len(data)
        if left:  # the file shrank while being read: keep the promised length
            conn.sock.sendall(b"\0" * left)


def op_write(conn: Conn, request: dict[str, Any]) -> None:
    path = resolve(request.get("path"))
    left = int(request.get("size") or 0)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        target = open(path, "wb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise _os_failure(exc, path) from exc
    error: OSError | None = None
    with target:
        while left > 0:
            data = conn.read(min(CHUNK * 16, left))
            if not data:
                break
            left -= len(data)
            if error is None:
                try:
                    target.write(data)
                except OSError as exc:
                    error = exc
        if error is None:
            try:
                target.flush()
            except OSError as exc:
                error = exc
    if error is not None:
        raise Failure("invalid", f"{path}: {error.strerror}")
    conn.final(entry=entry(path))


# --- watching --------------------------------------------------------------------------

IN_MODIFY, IN_ATTRIB, IN_MOVED_FROM, IN_MOVED_TO = 0x2, 0x4, 0x40, 0x80
IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_MOVE_SELF = 0x100, 0x200, 0x400, 0x800
IN_Q_OVERFLOW, IN_IGNORED, IN_ONLYDIR, IN_ISDIR = 0x4000, 0x8000, 0x1000000, 0x40000000
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
_WATCHED = (IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
            | IN_DELETE_SELF | IN_MOVE_SELF)  # fmt: skip
#: inotify bits to envd's event types, first match wins.
_EVENT_TYPES = (
    (IN_CREATE | IN_MOVED_TO, "create"),
    (IN_MODIFY, "write"),
    (IN_DELETE | IN_DELETE_SELF, "remove"),
    (IN_MOVED_FROM | IN_MOVE_SELF, "rename"),
    (IN_ATTRIB, "chmod"),
)
_EVENT_HEADER = struct.Struct("iIII")
#: How long a snapshot waits for a context that is running code, and for a context's save.
SAVE_WAIT_SECONDS = 2.0
SAVE_ANSWER_SECONDS = 30.0
#: Watchers one sandbox may hold.
WATCHER_LIMIT = 64
#: Events a watcher keeps until they are taken (the oldest are dropped beyond).
BUFFERED = 10_000


class Inotify:
    """The daemon's one inotify instance, shared by all its watchers: the kernel limits
    instances per user, and every sandbox on a host runs as the same user. A thread reads
    it and hands each event to the watchers of the directory it came from. Watchers of
    the same directory share its watch (the kernel gives the same descriptor), which is
    removed when the last of them lets go. Lock order: this one's `lock`, then a
    watcher's."""

    _shared: Inotify | None = None
    _making = threading.Lock()

    @classmethod
    def shared(cls) -> Inotify:
        """The instance, made (and its reader started) on first use."""
        with cls._making:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def __init__(self) -> None:
        import ctypes  # only sandboxes that watch need it (a forked one has it loaded)

        self._libc = ctypes.CDLL(None, use_errno=True)
        self._errno = ctypes.get_errno
        self.fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise Failure(
                "internal",
                f"cannot watch: inotify: {os.strerror(self._errno())} (the host's "
                "fs.inotify.max_user_instances is shared by every sandbox on it)",
            )
        self.lock = threading.RLock()
        #: Watch descriptor -> each watcher of that directory -> its path in the watcher.
        self.holders: dict[int, dict[Watcher, str]] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def add(self, watcher: Watcher, directory: str, relative: str) -> int:
        """Watch `directory` for `watcher`, which names it `relative`; returns the watch
        descriptor, or -errno."""
        with self.lock:
            wd = int(self._libc.inotify_add_watch(
                self.fd, os.fsencode(directory), _WATCHED | IN_ONLYDIR))  # fmt: skip
            if wd < 0:
                return -self._errno()
            self.holders.setdefault(wd, {})[watcher] = relative
            watcher.wds.add(wd)
            return wd

    def discard(self, watcher: Watcher) -> None:
        """Stop every watch of `watcher` that no other watcher holds."""
        with self.lock:
            for wd in watcher.wds:
                holders = self.holders.get(wd)
                if holders is None:
                    continue
                holders.pop(watcher, None)
                if not holders:
                    del self.holders[wd]
                    self._libc.inotify_rm_watch(self.fd, wd)
            watcher.wds.clear()

    def _read(self) -> None:
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while True:
            poller.poll()
            try:
                data = os.read(self.fd, CHUNK)
            except BlockingIOError:
                continue
            with self.lock:
                offset = 0
                while offset < len(data):
                    wd, mask, _, size = _EVENT_HEADER.unpack_from(data, offset)
                    offset += _EVENT_HEADER.size
                    name = os.fsdecode(data[offset : offset + size].rstrip(b"\0"))
                    offset += size
                    holders = self.holders.get(wd)
                    if holders is None:
                        continue
                    if mask & IN_IGNORED:  # the directory is gone: so is its watch
                        del self.holders[wd]
                        for watcher in holders:
                            watcher.wds.discard(wd)
                        continue
                    for watcher, relative in list(holders.items()):
                        watcher.deliver(relative, name, mask)


class Watcher:
    """A watch on a directory and, when `recursive`, every directory below it, through the
    daemon's shared `Inotify`. A directory made later is watched from when its creation
    arrives, and what it already holds by then is reported as created, so nothing made
    inside it is missed. Events are ``{"name", "type"}``, names relative to the watched
    directory; they gather (at most BUFFERED) until `take`, and each gathering makes
    `wake_fd` readable, for a caller that waits."""

    def __init__(self, path: str, recursive: bool) -> None:
        self.path = path
        self.recursive = recursive
        self.inotify = Inotify.shared()
        self.wds: set[int] = set()
        self.lock = threading.Lock()
        self.gathered: list[dict[str, str]] = []
        self.wake_fd, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            self._add(path, "", announce=False)
        except BaseException:
            self.close()
            raise

    def _add(self, directory: str, relative: str, announce: bool) -> None:
        wd = self.inotify.add(self, directory, relative)
        if wd < 0:
            if relative:  # a subdirectory that vanished meanwhile: nothing to watch
                return
            code = "not_found" if wd == -2 else "invalid"
            raise Failure(code, f"cannot watch '{directory}': {os.strerror(-wd)}")
        if not self.recursive:
            return
        with contextlib.suppress(OSError), os.scandir(directory) as entries:
            for item in entries:
                name = os.path.join(relative, item.name)
                if announce:
                    self._gather([{"name": name, "type": "create"}])
                if item.is_dir(follow_symlinks=False):
                    self._add(item.path, name, announce)

    def deliver(self, relative: str, name: str, mask: int) -> None:
        """An event of the directory this watcher names `relative` (the shared reader
        calls it, holding the instance's lock)."""
        path = os.path.join(relative, name) if name else relative
        kind = next((k for bits, k in _EVENT_TYPES if mask & bits), None)
        if kind is not None and name:  # an entry of a watched directory
            self._gather([{"name": path, "type": kind}])
        if self.recursive and name and mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO):
            self._add(os.path.join(self.path, path), path, announce=True)

    def _gather(self, events: list[dict[str, str]]) -> None:
        with self.lock:
            self.gathered.extend(events)
            del self.gathered[:-BUFFERED]
            if self._wake_write >= 0:
                with contextlib.suppress(BlockingIOError):
                    os.write(self._wake_write, b"e")

    def take(self) -> list[dict[str, str]]:
        """What happened since the last take (nothing once closed)."""
        with self.lock:
            if self.wake_fd >= 0:
                drain(self.wake_fd)
            events, self.gathered = self.gathered, []
        return events

    def close(self) -> None:
        self.inotify.discard(self)  # no event reaches it after this
        with self.lock:
            for fd in (self.wake_fd, self._wake_write):
                if fd >= 0:
                    os.close(fd)
            self.wake_fd = self._wake_write = -1


WATCHERS: dict[str, Watcher] = {}


def _watcher(request: dict[str, Any]) -> Watcher:
    watcher = WATCHERS.get(str(request.get("id")))
    if watcher is None:
        raise Failure("not_found", f"watcher {request.get('id')} not found")
    return watcher


def _new_watcher(request: dict[str, Any]) -> Watcher:
    path = resolve(request.get("path"))
    if not os.path.isdir(path):
        raise Failure(
            "not_found" if not os.path.exists(path) else "invalid",
            f"path '{path}' is not a directory",
        )
    return Watcher(path, bool(request.get("recursive")))


def op_watch_create(conn: Conn, request: dict[str, Any]) -> None:
    """A watcher whose events `watch_events` returns (polling)."""
    if len(WATCHERS) >= WATCHER_LIMIT:
        raise Failure("invalid", f"at most {WATCHER_LIMIT} watchers per sandbox")
    watcher = _new_watcher(request)
    watcher_id = os.urandom(8).hex()
    WATCHERS[watcher_id] = watcher
    conn.final(id=watcher_id)


def op_watch_events(conn: Conn, request: dict[str, Any]) -> None:
    conn.final(events=_watcher(request).take())


def op_watch_remove(conn: Conn, request: dict[str, Any]) -> None:
    _watcher(request).close()
    WATCHERS.pop(str(request.get("id")), None)
    conn.final()


def op_watch(conn: Conn, request: dict[str, Any]) -> None:
    """Stream a directory's events (``{"start": {}}``, then ``{"event": ...}`` each) until
    the caller goes away."""
    watcher = _new_watcher(request)
    try:
        conn.send({"start": {}})
        poller = select.poll()
        poller.register(watcher.wake_fd, select.POLLIN)
        poller.register(conn.sock.fileno(), select.POLLIN)  # readable: the caller left
        while True:
            ready = {fd for fd, _ in poller.poll()}
            if conn.sock.fileno() in ready:
                return
            for event in watcher.take():
                conn.send({"event": event})
    except OSError:
        return  # the caller went away
    finally:
        watcher.close()


# --- code contexts -------------------------------------------------------------------


class Kernel:
    """One code context: a kernel.py process driven over two pipes."""

    def __init__(self, context_id: str, cwd: str) -> None:
        self.id = context_id
        self.cwd = cwd
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.process: subprocess.Popen[bytes] | None = None
        self.events: BinaryIO | None = None
        self.requests: BinaryIO | None = None

    def start(self) -> None:
        to_kernel_r, to_kernel_w = os.pipe()
        from_kernel_r, from_kernel_w = os.pipe()
        self.process = Children.spawn(
            [sys.executable, "-u", KERNEL, str(to_kernel_r), str(from_kernel_w)],
            cwd=self.cwd,
            env=_env(None),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(to_kernel_r, from_kernel_w),
            start_new_session=True,
        )
        os.close(to_kernel_r)
        os.close(from_kernel_w)
        self.requests = os.fdopen(to_kernel_w, "wb")
        self.events = os.fdopen(from_kernel_r, "rb")

    def request(self, message: dict[str, Any]) -> None:
        if self.process is None or self.process.poll() is not None:
            self.start()
        assert self.requests is not None
        self.requests.write((json.dumps(message) + "\n").encode())
        self.requests.flush()

    def event(self, timeout: float | None = None) -> dict[str, Any]:
        """The context's next event; with `timeout` (seconds), TimeoutError when none
        has begun by then (the caller must then stop the context: its reply may still
        come)."""
        assert self.events is not None
        if timeout is not None and not select.select([self.events], [], [], timeout)[0]:
            raise TimeoutError("the code context did not answer")
        line = self.events.readline()
        if not line:
            raise Failure("internal", "the code context's process died")
        result: dict[str, Any] = json.loads(line)
        return result

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for stream in (self.requests, self.events):
            if stream is not None:
                stream.close()
        self.process = None

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "language": "python", "cwd": self.cwd}


CONTEXTS: dict[str, Kernel] = {}
CONTEXTS_LOCK = threading.Lock()
DEFAULT_CONTEXT = "default"


def _context(context_id: str | None) -> Kernel:
    with CONTEXTS_LOCK:
        key = context_id or DEFAULT_CONTEXT
        kernel = CONTEXTS.get(key)
        if kernel is None:
            if context_id:
                raise Failure("not_found", f"context {context_id} not found")
            kernel = CONTEXTS[key] = Kernel(key, HOME)
            kernel.ready.set()
    kernel.ready.wait()
    return kernel


def op_execute(conn: Conn, request: dict[str, Any]) -> None:
    if (request.get("language") or "python") != "python":
        raise Failure("invalid", f"language {request.get('language')!r} is not supported")
    kernel = _context(request.get("context_id"))
    code = str(request.get("code") or "")
    _remember({"kind": "code", "context": kernel.id, "code": code})
    with kernel.lock:
        kernel.request({"op": "execute", "code": code, "env_vars": request.get("env_vars") or {}})
        while True:
            event = kernel.event()
            if event["type"] == "done":
                conn.send(
                    {"type": "number_of_executions", "execution_count": event["execution_count"]}
                )
                conn.final(type="end_of_execution")
                return
            event["timestamp"] = time.time_ns()
            # A caller that left still has the execution's events drained.
            with contextlib.suppress(OSError):
                conn.send(event)


def op_context_create(conn: Conn, request: dict[str, Any]) -> None:
    if (request.get("language") or "python") != "python":
        raise Failure("invalid", f"language {request.get('language')!r} is not supported")
    kernel = Kernel(os.urandom(16).hex(), resolve(request.get("cwd") or HOME))
    kernel.ready.set()
    with CONTEXTS_LOCK:
        CONTEXTS[kernel.id] = kernel
    conn.final(context=kernel.describe())


def op_context_list(conn: Conn, request: dict[str, Any]) -> None:
    with CONTEXTS_LOCK:
        contexts = [k.describe() for k in CONTEXTS.values()]
    conn.final(contexts=contexts)


def op_context_delete(conn: Conn, request: dict[str, Any]) -> None:
    with CONTEXTS_LOCK:
        kernel = CONTEXTS.pop(str(request.get("id")), None)
    if kernel is None:
        raise Failure("not_found", f"context {request.get('id')} not found")
    with kernel.lock:
        kernel.stop()
    conn.final()


def op_context_restart(conn: Conn, request: dict[str, Any]) -> None:
    kernel = _context(str(request.get("id")))
    with kernel.lock:
        kernel.stop()
    conn.final()


# --- hibernation ---------------------------------------------------------------------


def op_snapshot(conn: Conn, request: dict[str, Any]) -> None:
    """Save every live context's globals under STATE_DIR, then stream a tar of the home
    and STATE_DIR. Header: ``{"final", "size": -1, "unsaved": {ctx: [names]}, "history"}``;
    the archive follows until the connection closes. With ``"memory": false`` no context
    and no history is saved (a sandbox restored from it starts with the home only)."""
    os.makedirs(STATE_DIR, exist_ok=True)
    for name in os.listdir(STATE_DIR):
        os.unlink(os.path.join(STATE_DIR, name))
    unsaved: dict[str, list[str]] = {}
    memory = request.get("memory") is not False
    with CONTEXTS_LOCK:
        kernels = list(CONTEXTS.values()) if memory else []
    contexts = []
    for kernel in kernels:
        contexts.append(kernel.describe())
        # A context still running code is not waited for (nor one whose save hangs):
        # its globals are left out, reported as "*".
        if not kernel.lock.acquire(timeout=SAVE_WAIT_SECONDS):
            unsaved[kernel.id] = ["*"]
            continue
        try:
            if kernel.process is None or kernel.process.poll() is not None:
                continue
            kernel.request({"op": "save", "path": f"{STATE_DIR}/ctx-{kernel.id}.pkl"})
            try:
                event = kernel.event(timeout=SAVE_ANSWER_SECONDS)
            except TimeoutError:
                kernel.stop()  # mid-save: its late answer would be read as another's
                unsaved[kernel.id] = ["*"]
                continue
            unsaved[kernel.id] = list(event.get("unsaved") or [])
        finally:
            kernel.lock.release()
    with open(f"{STATE_DIR}/meta.json", "w") as meta:
        json.dump({"contexts": contexts, "history": HISTORY if memory else []}, meta)
    conn.send(
        {"final": True, "size": -1, "unsaved": unsaved, "history": len(HISTORY) if memory else 0}
    )
    tar = Children.spawn(
        # Volumes mounted below the home are not the sandbox's to save.
        ["tar", "-C", "/", "--one-file-system", "-cf", "-", *_SAVED],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert tar.stdout is not None
    while True:
        data = tar.stdout.read(CHUNK * 16)
        if not data:
            break
        conn.sock.sendall(data)
    tar.wait()


def restore(archive_fd: int | None = None) -> None:
    """Unpack a hibernated or snapshotted sandbox's archive — `archive_fd` (closed once
    read) or the one at RESTORE_ARCHIVE — and bring its contexts back (in a thread, so
    the daemon answers at once; executions wait for their context)."""
    if archive_fd is None and not os.path.exists(RESTORE_ARCHIVE):
        return
    source = RESTORE_ARCHIVE if archive_fd is None else "-"
    stdin = subprocess.DEVNULL if archive_fd is None else archive_fd
    Children.spawn(
        ["tar", "-C", "/", "-xf", source, "--no-same-owner", "--no-same-permissions", *_SAVED],
        stdin=stdin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ).wait()
    if archive_fd is not None:
        os.close(archive_fd)
    try:
        with open(f"{STATE_DIR}/meta.json") as meta_file:
            meta = json.load(meta_file)
    except (OSError, ValueError):
        return
    HISTORY.extend(meta.get("history") or [])
    pending: list[Kernel] = []
    with CONTEXTS_LOCK:
        for described in meta.get("contexts") or []:
            kernel = Kernel(described["id"], described.get("cwd") or HOME)
            CONTEXTS[kernel.id] = kernel
            pending.append(kernel)

    def load(kernel: Kernel) -> None:
        try:
            path = f"{STATE_DIR}/ctx-{kernel.id}.pkl"
            if os.path.exists(path):
                kernel.request({"op": "load", "path": path})
                kernel.event()
        except Exception:
            kernel.stop()
        finally:
            kernel.ready.set()

    for kernel in pending:
        threading.Thread(target=load, args=(kernel,), daemon=True).start()


def op_set_env(conn: Conn, request: dict[str, Any]) -> None:
    """Environment for every later command and new context (a claimed pool sandbox gets
    its create request's env this way)."""
    BASE_ENV.update({str(k): str(v) for k, v in (request.get("envs") or {}).items()})
    conn.final()


def op_health(conn: Conn, request: dict[str, Any]) -> None:
    conn.final(ok=True, pid=os.getpid())


def op_history(conn: Conn, request: dict[str, Any]) -> None:
    conn.final(history=HISTORY)


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}


def handle(sock: socket.socket) -> None:
    conn = Conn(sock)
    try:
        line = conn.readline()
        if not line:
            return
        request = json.loads(line)
        op = OPS.get(str(request.get("op")))
        if op is None:
            raise Failure("invalid", f"unknown op {request.get('op')!r}")
        op(conn, request)
    except Failure as failure:
        _try_final(conn, {"code": failure.code, "message": failure.message})
    except (ValueError, TypeError, KeyError) as exc:
        _try_final(conn, {"code": "invalid", "message": str(exc)})
    except OSError:
        pass
    except Exception as exc:
        _try_final(conn, {"code": "internal", "message": f"{type(exc).__name__}: {exc}"})
    finally:
        with contextlib.suppress(OSError):
            sock.close()


def _try_final(conn: Conn, error: dict[str, str]) -> None:
    with contextlib.suppress(OSError):
        conn.final(error=error)


BASE_ENV: dict[str, str] = {}


def wake_on_child_exit() -> int:
    """Make SIGCHLD wake a select loop: returns the read end of a pipe that becomes
    readable when a child ends (the handler itself does nothing; `drain` empties it)."""
    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    _signal.signal(_signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    return wake_read


def drain(wake_read: int) -> None:
    with contextlib.suppress(BlockingIOError):
        os.read(wake_read, 512)


def listen_unix(path: str, backlog: int) -> socket.socket:
    """A Unix socket listening at `path` (0600), which appears there only once it
    accepts connections."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path + ".new")
    os.chmod(path + ".new", 0o600)
    server.listen(backlog)
    os.rename(path + ".new", path)
    return server


def accept(server: socket.socket) -> socket.socket:
    """The next connection; the plain accept, as socket.accept() would look up the family
    and type enums (more pages copied from the zygote)."""
    fd, _ = server._accept()  # type: ignore[attr-defined]
    return socket.socket(fileno=fd)


def main(
    on_listening: Callable[[], None] | None = None,
    env: dict[str, str] | None = None,
    archive_fd: int | None = None,
) -> None:
    """Serve the socket argv[1]; `on_listening` runs once it accepts connections. `env` is
    the sandbox's environment when the caller has it as a dict (else os.environ's);
    `archive_fd` an archive to restore first (else one at RESTORE_ARCHIVE, if any)."""
    path = sys.argv[1]
    if env is None:
        env = {k: v for k, v in os.environ.items() if k != "DOCKYARD_SANDBOXD"}
    BASE_ENV.update(env, HOME=HOME, USER="user", LANG=env.get("LANG", "C.UTF-8"))
    os.chdir(HOME)
    # As pid 1 the daemon reaps every process that ends in the sandbox.
    reaper = os.getpid() == 1
    if reaper:
        wake_read = wake_on_child_exit()
    else:
        wake_read = -1
        _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
    restore(archive_fd)
    server = listen_unix(path, 256)
    if on_listening is not None:
        on_listening()
    watched = [server.fileno(), wake_read] if reaper else [server.fileno()]
    while True:
        ready = select.select(watched, [], [])[0]
        if wake_read in ready:
            drain(wake_read)
            Children.reap_ended()
        if server.fileno() in ready:
            # The low-level start: a sandbox's daemon is a fresh fork, and every page the
            # threading module's bookkeeping touched would be copied for it.
            _thread.start_new_thread(handle, (accept(server),))


if __name__ == "__main__":
    main()
