"""The sandbox zygote: a fork server that turns itself into fresh sandboxes in milliseconds.

Runs as the only process of the node's nursery (a bubblewrap sandbox with the same
read-only userland as every sandbox, uid 65534, its own user namespace in which it keeps
its capabilities, no way to create further user namespaces) with the host's
/usr/bin/python3; standard library only, never imports dockyard. It has the daemon
(`sandboxd`) loaded, so a new sandbox costs a fork instead of an interpreter start.

Protocol on the Unix socket argv[1] (the control plane is the only client): one request
per connection, a JSON line ``{"id", "home_bytes", "tmp_bytes", "hostname", "env"}``. The
zygote enters new mount, pid, ipc and uts namespaces and a clean network namespace
itself, forks the sandbox's only long-lived process (pid 1 of the new pid namespace,
which becomes the daemon) and returns to its own namespaces at once (it dies rather than
serve from the wrong ones). The child then, on that same connection:

1. sends one byte, to which the kernel attaches its credentials (SCM_CREDENTIALS: the
   control plane asked for them and learns its pid as the host sees it), and waits for
   one byte back, by which time the control plane has moved it into the sandbox's cgroup;
2. makes its mounts private, mounts its own /proc, /tmp and /home/user (size-capped tmpfs),
   /dev/shm and /dev/pts, binds its run directory to /.dockyard/run, covers every other
   sandbox's directory and the zygote's socket, and makes /dev read-only;
3. sets its hostname, brings loopback up, closes every inherited descriptor, drops every
   capability (the zygote emptied the bounding set they all inherit), sets no_new_privs
   and installs the seccomp filter (the same program bubblewrap installs for a sandbox
   started on its own);
4. runs the daemon, which answers ``{"ok": true}`` once its socket accepts connections
   (an ``{"error"}`` is sent instead if any step fails). As pid 1 the daemon also reaps
   orphans (see `sandboxd.Children`); the sandbox ends when it ends.

One fork per sandbox: the zygote's pages are copied on write only once, and a sandbox is
one process until it runs something.

Network namespaces are reused (`NetworkNamespaces`): making and tearing down one costs more
CPU than anything else the kernel does for a sandbox. A sandbox's network namespace is kept
(by a descriptor) while it lives; once its pid 1 has been reaped (so no process of it is
left) the namespace goes to the next sandbox only if it holds no socket of any kind and no
TIME_WAIT entry and its traffic counters are as in a fresh one, i.e. it is exactly as a
fresh one with loopback up: nobody in a sandbox holds a capability, so nothing else in it
(addresses, routes, sysctls, filters) can have changed. Any other namespace is released.
No two live sandboxes ever share one.

Sandboxes share the nursery's user namespace, in which they hold no capability; each has
its own pid namespace, so neither the zygote nor another sandbox is visible to it.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import gc
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.sandbox.runtime import sandboxd
else:
    # The daemon, loaded once here and inherited by every sandbox.
    sys.path.insert(0, "/.dockyard/bin")
    import sandboxd

SECCOMP_FILE = "/.dockyard/seccomp.bpf"
HOME = sandboxd.HOME.encode()
BOXES = "/.dockyard/boxes"
ZYGOTE_RUN = "/.dockyard/zrun"
#: Every volume of the node (bound into the nursery by builds that do; see _nursery.py).
VOLUMES = "/.dockyard/volumes"
#: Where the nursery sees the archives sandboxes are restored from, by kind (read-only).
ARCHIVES = {"saved": "/.dockyard/saved", "hibernated": "/.dockyard/hibernated"}
RUN = "/.dockyard/run"

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_CHILD_SUBREAPER = 36
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
LINUX_CAPABILITY_VERSION_3 = 0x20080522
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1

libc = ctypes.CDLL(None, use_errno=True)


class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


# Prototypes: plain ints and bytes then pass without a ctypes object made per call.
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                       ctypes.c_char_p]  # fmt: skip
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                       ctypes.c_ulong]  # fmt: skip
libc.unshare.argtypes = [ctypes.c_int]
libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]

#: A mount(2) call: source, target, file system type, flags, data.
Mount = tuple[bytes | None, bytes, bytes | None, int, bytes | None]


def _mount(source: bytes | None, target: bytes, fstype: bytes | None, flags: int,
           data: bytes | None) -> None:  # fmt: skip
    if libc.mount(source, target, fstype, flags, data) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {target.decode()}: {os.strerror(errno)}")


_TMPFS = MS_NOSUID | MS_NODEV
_READ_ONLY_BIND = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
#: Entries of a fresh /proc made read-only, as bubblewrap does (those this kernel has).
_PROC_READ_ONLY = [
    entry
    for entry in (b"/proc/sys", b"/proc/sysrq-trigger", b"/proc/irq", b"/proc/bus")
    if os.path.exists(entry)
]
#: The mounts before the per-sandbox ones: private propagation, a fresh /proc.
_FIRST_MOUNTS: list[Mount] = [
    (None, b"/", None, MS_REC | MS_PRIVATE, None),
    (b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None),
    *((entry, entry, None, MS_BIND | MS_REC, None) for entry in _PROC_READ_ONLY),
    *((None, entry, None, _READ_ONLY_BIND, None) for entry in _PROC_READ_ONLY),
]
#: What only the nursery may see: every sandbox's directory, the zygote's socket, and (in
#: nurseries that bind them) the volumes and the archives.
_HIDDEN = [
    d.encode()
    for d in (BOXES, ZYGOTE_RUN, VOLUMES, *ARCHIVES.values())
    if d in (BOXES, ZYGOTE_RUN) or os.path.isdir(d)
]
#: The mounts after them. The nursery's mounts are locked in a sandbox's namespace (it
#: belongs to a nested user namespace), so they are covered rather than detached: one
#: empty read-only tmpfs over the first hidden directory, bound over the others (one
#: file system for all of them: each new tmpfs costs the kernel a superblock).
_LAST_MOUNTS: list[Mount] = [
    (b"tmpfs", b"/dev/shm", b"tmpfs", _TMPFS, b"size=65536k,mode=1777"),
    (b"devpts", b"/dev/pts", b"devpts", MS_NOSUID | MS_NOEXEC,
     b"newinstance,ptmxmode=0666,mode=0620"),
    (b"tmpfs", _HIDDEN[0], b"tmpfs", MS_RDONLY | _TMPFS | MS_NOEXEC, b"size=4k,mode=0555"),
    *((_HIDDEN[0], hidden, None, MS_BIND, None) for hidden in _HIDDEN[1:]),
    (None, b"/dev", None, _READ_ONLY_BIND, None),
]  # fmt: skip


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh14x", b"lo", 0)
        flags = struct.unpack("16sh14x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sh14x", b"lo", flags | IFF_UP))


def _last_cap() -> int:
    with open("/proc/sys/kernel/cap_last_cap") as source:
        return int(source.read())


#: Read once by the zygote (every sandbox inherits it).
LAST_CAP = _last_cap()

#: The sandboxes' own descriptor limit (the zygote raises its own to hold one network
#: namespace per live sandbox).
SANDBOX_NOFILE = resource.getrlimit(resource.RLIMIT_NOFILE)


#: The empty capability sets capset(2) installs (effective, permitted, inheritable x 2).
_CAP_HEADER = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
_CAP_DATA = (ctypes.c_uint32 * 6)()


def _empty_bounding_set() -> None:
    """Drop every capability from the bounding set, once in the zygote: it never runs a
    program, keeps its own capabilities (the bounding set limits only what a program
    gains when it starts), and every sandbox inherits the empty set."""
    for cap in range(LAST_CAP + 1):
        _check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "drop bounding set")


class SeccompProgram:
    """The seccomp filter as prctl(2) takes it, built once in the zygote."""

    def __init__(self, program: bytes) -> None:
        self.buffer = ctypes.create_string_buffer(program, len(program))
        self.fprog = Fprog(len(program) // 8, ctypes.addressof(self.buffer))
        self.address = ctypes.addressof(self.fprog)


def _drop_privileges(seccomp: SeccompProgram) -> None:
    """Drop every capability, set no_new_privs and install the seccomp filter (the
    bounding set is empty already)."""
    _check(libc.capset(_CAP_HEADER, _CAP_DATA), "capset")
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, seccomp.address, 0, 0), "seccomp")


#: Empty top-level directories of the nursery's root where volumes may be mounted besides
#: the home (the nursery makes them; see _nursery.py).
MOUNT_TOPS = (b"/mnt", b"/data", b"/workspace")


def _mount_volumes(volumes: list[list[str]]) -> None:
    """Bind each ``[volume id, path]`` below the fresh home or in a `MOUNT_TOPS` directory
    (before the volumes' directory is covered): onto the directory itself, or onto a
    mount point made in a small tmpfs mounted over it. The bind keeps the nosuid and nodev
    its source has in the nursery."""
    landed: set[bytes] = set()
    for volume_id, path in volumes:
        target = os.fsencode(path)
        top = b"/" + target.split(b"/")[1] if target.startswith(b"/") else b""
        if not volume_id.isalnum() or os.path.normpath(target) != target:
            raise ValueError(f"bad volume mount {volume_id!r} at {path!r}")
        if top in MOUNT_TOPS and target != top and top not in landed:
            _mount(b"tmpfs", top, b"tmpfs", _TMPFS, b"size=64k,mode=0755")
            landed.add(top)
        elif not (target.startswith(HOME + b"/") or top in MOUNT_TOPS):
            raise ValueError(f"volume mount path {path!r} is not below the home or {MOUNT_TOPS}")
        os.makedirs(target, 0o755, exist_ok=True)
        _mount(b"%s/%s" % (VOLUMES.encode(), volume_id.encode()), target, None, MS_BIND, None)


def _open_archive(restore: list[str] | None) -> int | None:
    """A descriptor of the archive ``[kind, file name]`` to restore the sandbox from,
    opened before the archives' directories are covered (None: nothing to restore)."""
    if not restore:
        return None
    kind, name = restore
    if kind not in ARCHIVES or not name.replace("-", "").replace(".", "").isalnum():
        raise ValueError(f"bad archive {restore!r}")
    if name.startswith("."):
        raise ValueError(f"bad archive {restore!r}")
    return os.open(f"{ARCHIVES[kind]}/{name}", os.O_RDONLY | os.O_CLOEXEC)


def _become_sandbox(
    conn: socket.socket, request: dict[str, Any], seccomp: SeccompProgram, fresh_network: bool
) -> tuple[dict[str, str], int | None]:
    """In the sandbox's process (pid 1 of its namespaces): steps 1-3 above (loopback is
    already up in a reused network namespace). Returns the sandbox's environment and the
    descriptor of the archive to restore it from, if any."""
    signal.set_wakeup_fd(-1)  # the zygote's, closed below: no byte may land in a reused fd
    resource.setrlimit(resource.RLIMIT_NOFILE, SANDBOX_NOFILE)
    os.setsid()
    # The control plane's end has SO_PASSCRED: the kernel attaches this process's
    # credentials (its pid as the control plane sees it) to the byte.
    conn.send(b"c")
    if conn.recv(1) != b"g":
        raise OSError("the control plane did not place the sandbox")
    # Its own cgroup is now the root of what it sees of the cgroup tree.
    _check(libc.unshare(CLONE_NEWCGROUP), "unshare cgroup namespace")
    sandbox_id = str(request["id"])
    if not sandbox_id.isalnum():
        raise ValueError(f"bad sandbox id {sandbox_id!r}")
    home_bytes, tmp_bytes = int(request["home_bytes"]), int(request["tmp_bytes"])
    uid, gid = os.getuid(), os.getgid()
    for mount in _FIRST_MOUNTS:
        _mount(*mount)
    _mount(b"tmpfs", b"/tmp", b"tmpfs", _TMPFS, b"size=%d,mode=1777" % tmp_bytes)
    _mount(b"tmpfs", HOME, b"tmpfs", _TMPFS,
           b"size=%d,mode=0700,uid=%d,gid=%d" % (home_bytes, uid, gid))  # fmt: skip
    _mount(b"%s/%s/run" % (BOXES.encode(), sandbox_id.encode()), RUN.encode(), None, MS_BIND, None)
    _mount_volumes(request.get("volumes") or [])
    archive = _open_archive(request.get("restore"))
    for mount in _LAST_MOUNTS:
        _mount(*mount)
    socket.sethostname(str(request.get("hostname") or "sandbox"))
    if fresh_network:
        _loopback_up()
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    # Every descriptor the zygote had, but the connection and the archive.
    low = 3
    for keep in sorted(fd for fd in (conn.fileno(), archive) if fd is not None):
        os.closerange(low, keep)
        low = keep + 1
    os.closerange(low, SANDBOX_NOFILE[1])
    # The zygote's environment is PATH alone (the nursery starts it with a cleared one).
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    extra = request.get("env")
    if extra:
        env.update({str(k): str(v) for k, v in extra.items()})
        os.environ.update(env)
    os.chdir("/")
    _drop_privileges(seccomp)
    return env, archive


_NAMESPACES = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET
#: The zygote's own namespaces, returned to after each fork (pid: for its next children).
_HOME_NAMESPACES = (
    ("mnt", CLONE_NEWNS),
    ("uts", CLONE_NEWUTS),
    ("ipc", CLONE_NEWIPC),
    ("net", CLONE_NEWNET),
    ("pid", CLONE_NEWPID),
)


def _own_namespaces() -> list[tuple[int, int]]:
    """Namespaces of the zygote's own, owned by the user namespace it holds capabilities
    in (bubblewrap's --disable-userns puts it in a nested one, which may not enter the
    namespaces bubblewrap made): it makes them at start, as pid 1 of its own pid
    namespace; the process bubblewrap started waits for it and ends with it."""
    _check(libc.unshare(_NAMESPACES), "unshare")
    server = os.fork()
    if server != 0:
        while True:
            try:
                _, status = os.waitpid(server, 0)
                os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
            except InterruptedError:
                continue
    return [
        (os.open(f"/proc/self/ns/{name}", os.O_RDONLY | os.O_CLOEXEC), flag)
        for name, flag in _HOME_NAMESPACES
    ]


_raw_fork = libc.fork
_raw_fork.restype = ctypes.c_int
_raw_fork.argtypes = []


def _setns(fd: int, flag: int) -> None:
    _check(libc.setns(fd, flag), "setns")


#: The /proc/net files whose counters a reused namespace must show exactly as a fresh one
#: does (traffic, failed connects, socket errors all move them).
_COUNTERS = ("dev", "snmp", "snmp6", "netstat")


def _read_net_file(name: str) -> bytes:
    """/proc/net/`name` of the calling thread's network namespace (b"" when missing)."""
    try:
        fd = os.open(f"/proc/thread-self/net/{name}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return b""
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


class NetworkNamespaces:
    """Network namespaces for new sandboxes: a clean one left by an ended sandbox when
    there is one, else a new one. The zygote holds a descriptor of each live sandbox's
    namespace (`track`) until `ended` tells it the sandbox's pid 1 was reaped. A namespace
    not yet clean then (the kernel frees some sockets only after an RCU grace period) is
    looked at again before later forks, for `SETTLE_SECONDS` at most.

    Clean means indistinguishable from a fresh namespace with loopback up: no socket of
    any kind, no TIME_WAIT entry, and every counter in `_COUNTERS` as in `pristine` (read
    once from a fresh namespace), so nothing of what an earlier sandbox did, not even how
    much traffic it made, is visible to the next."""

    #: Namespaces kept for reuse (clean, or settling) at most; more are released.
    KEEP = 64
    SETTLE_SECONDS = 2.0

    def __init__(self, home: int, fd_ceiling: int) -> None:
        self.home = home
        #: Descriptors numbered above this are not kept: the zygote needs some left for
        #: its connections however many sandboxes live.
        self.fd_ceiling = fd_ceiling
        self.free: list[int] = []
        #: (when its sandbox ended, descriptor), oldest first.
        self.settling: list[tuple[float, int]] = []
        self.by_pid: dict[int, int] = {}
        #: The namespace entered for the fork under way (-1: none, or not kept).
        self._pending = -1
        self.pristine = self._fresh_counters()

    def _fresh_counters(self) -> list[bytes]:
        """`_COUNTERS` as a fresh namespace with loopback up shows them."""
        _check(libc.unshare(CLONE_NEWNET), "unshare network namespace")
        try:
            _loopback_up()
            return [_read_net_file(name) for name in _COUNTERS]
        finally:
            if libc.setns(self.home, CLONE_NEWNET) != 0:
                os._exit(70)  # never serve the next sandbox from a sandbox's namespace

    def enter(self) -> bool:
        """Move the zygote into the next sandbox's network namespace (called after the
        other namespaces are unshared, before the fork); True when it is a new one."""
        if self.settling:
            self._settle()
        while self.free:
            fd = self.free.pop()
            try:
                _setns(fd, CLONE_NEWNET)
            except OSError:
                os.close(fd)
                continue
            self._pending = fd
            return False
        _check(libc.unshare(CLONE_NEWNET), "unshare network namespace")
        try:
            fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:  # out of descriptors: this one is simply not reused
            return True
        if fd > self.fd_ceiling:
            os.close(fd)
        else:
            self._pending = fd
        return True

    def track(self, pid: int) -> None:
        """The namespace last entered belongs to the sandbox whose pid 1 is `pid`."""
        if self._pending >= 0:
            self.by_pid[pid] = self._pending
        self._pending = -1

    def drop_pending(self) -> None:
        """The fork failed: release the namespace last entered."""
        if self._pending >= 0:
            os.close(self._pending)
        self._pending = -1

    def ended(self, pid: int) -> None:
        """The sandbox whose pid 1 was `pid` is gone (reaped): keep its namespace for the
        next sandbox if it is clean or may become so, else release it."""
        fd = self.by_pid.pop(pid, None)
        if fd is None:
            return
        if len(self.free) + len(self.settling) >= self.KEEP:
            os.close(fd)
        elif self._clean(fd):
            self.free.append(fd)
        else:
            self.settling.append((time.monotonic(), fd))

    def _settle(self) -> None:
        """Move the settling namespaces that became clean to the free ones; release
        those that stayed unclean too long (a TIME_WAIT entry lasts a minute)."""
        now = time.monotonic()
        while self.settling:
            ended_at, fd = self.settling[0]
            if self._clean(fd):
                self.free.append(fd)
            elif now - ended_at > self.SETTLE_SECONDS:
                os.close(fd)
            else:
                return
            del self.settling[0]

    def _clean(self, fd: int) -> bool:
        """True when the namespace is clean (see the class): read from its own /proc/net,
        entered for the moment."""
        try:
            _setns(fd, CLONE_NEWNET)
        except OSError:
            return False
        try:
            return _no_sockets(_read_net_file("sockstat")) and all(
                _read_net_file(name) == fresh
                for name, fresh in zip(_COUNTERS, self.pristine, strict=True)
            )
        except OSError:
            return False
        finally:
            if libc.setns(self.home, CLONE_NEWNET) != 0:
                os._exit(70)  # never serve the next sandbox from a sandbox's namespace


def _no_sockets(sockstat: bytes) -> bool:
    """True when a namespace's /proc/net/sockstat counts no socket (of any family: the
    count is the namespace's own) and no TCP TIME_WAIT entry."""
    lines = sockstat.split(b"\n", 2)
    return (
        len(lines) == 3
        and lines[0] == b"sockets: used 0"
        and lines[1].startswith(b"TCP: ")
        and b" tw 0 " in lines[1]
    )


def _fork_sandbox(home: list[tuple[int, int]], network: NetworkNamespaces) -> tuple[int, bool]:
    """Fork a child into fresh namespaces (a clean reused network namespace, or a new
    one); the zygote is back in its own when this returns in the parent. Returns the
    child's pid (0 in the child) and whether its network namespace is new."""
    _check(libc.unshare(_NAMESPACES & ~CLONE_NEWNET), "unshare")
    try:
        fresh = network.enter()
    except OSError:
        _go_home(home)
        raise
    # fork(2) itself, not os.fork(): the zygote has a single thread and holds no lock, so
    # Python's after-fork bookkeeping (re-creating locks and thread state, the threading
    # module's hook) has nothing to repair, and skipping it spares each sandbox about a
    # fifth of the pages it would copy from the zygote.
    pid = int(_raw_fork())
    if pid == 0:
        return 0, fresh
    _go_home(home)
    if pid < 0:
        network.drop_pending()
        raise OSError("fork failed")
    network.track(pid)
    return pid, fresh


def _go_home(home: list[tuple[int, int]]) -> None:
    for fd, flag in home:
        if libc.setns(fd, flag) != 0:
            os._exit(70)  # never serve the next sandbox from this one's namespaces


def _child(
    conn: socket.socket, request: dict[str, Any], seccomp: SeccompProgram, fresh_network: bool
) -> None:
    """The forked child, pid 1 of its own namespaces: becomes the sandbox and runs the
    daemon. Never returns."""
    code = 1
    try:
        env, archive = _become_sandbox(conn, request, seccomp, fresh_network)

        def listening() -> None:
            conn.sendall(b'{"ok": true}\n')
            conn.close()

        sys.argv = ["sandboxd", f"{RUN}/d.sock"]
        sandboxd.main(on_listening=listening, env=env, archive_fd=archive)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            conn.sendall((json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n").encode())
    finally:
        os._exit(code)


def _reap(network: NetworkNamespaces) -> None:
    """Reap every child that ended (each a sandbox's pid 1: the kernel ended the rest of
    its pid namespace first) and hand its network namespace back."""
    with contextlib.suppress(ChildProcessError):
        while True:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid <= 0:
                return
            network.ended(pid)


def main() -> None:
    path = sys.argv[1]
    with open(SECCOMP_FILE, "rb") as source:
        seccomp = SeccompProgram(source.read())
    _check(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "subreaper")
    home = _own_namespaces()
    _empty_bounding_set()
    resource.setrlimit(resource.RLIMIT_NOFILE, (SANDBOX_NOFILE[1], SANDBOX_NOFILE[1]))
    network = NetworkNamespaces(
        next(fd for fd, flag in home if flag == CLONE_NEWNET), SANDBOX_NOFILE[1] - 256
    )
    # A sandbox's end wakes the zygote at once: its pid 1 is reaped, so the control plane
    # sees its cgroup empty, and its network namespace is ready for the next sandbox.
    wake_read = sandboxd.wake_on_child_exit()
    # Everything loaded so far is shared with every sandbox: keep the collector from
    # walking (and so copying) those pages in each of them.
    gc.freeze()
    server = sandboxd.listen_unix(path, 64)
    while True:
        ready, _, _ = select.select([server.fileno(), wake_read], [], [], 5.0)
        if wake_read in ready:
            sandboxd.drain(wake_read)
        _reap(network)
        if server.fileno() not in ready:
            continue
        conn = sandboxd.accept(server)
        try:
            conn.settimeout(5)
            request = json.loads(sandboxd.Conn(conn).readline())
            conn.settimeout(None)
            pid, fresh = _fork_sandbox(home, network)
            if pid == 0:
                server.close()
                _child(conn, request, seccomp, fresh)
        except (OSError, ValueError) as exc:
            with contextlib.suppress(OSError):
                conn.sendall((json.dumps({"error": str(exc)}) + "\n").encode())
        finally:
            conn.close()


if __name__ == "__main__":
    main()
