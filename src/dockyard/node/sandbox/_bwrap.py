"""Builds the command line that puts one Pod into its bubblewrap sandbox.

Node layer. `PodSandbox.start` spawns `launcher_argv(...)`; the process chain it starts is

    /bin/sh (root, new session)   joins the Pod's cgroups, then drops to uid/gid 65534:
      setpriv ... /bin/sh          the monitor: parent of bubblewrap, records a pod record if
                                   the sandbox dies without writing one
        bwrap --die-with-parent    namespaces + mounts; dies with the monitor, so killing the
                                   monitor (the Pod's supervisor pid) kills the whole Pod
          sh supervisor.sh         runs the containers (see _script)

The first process is the "supervisor pid" the node agent holds; it lives exactly as long as
the Pod does. Nothing here ties it to the control plane, so Pods survive a control-plane
restart. Pure argv builders, unit-testable without running anything.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dockyard.node.sandbox._images import ImageRuntime
from dockyard.node.sandbox._layout import (
    SANDBOX_IMAGES,
    SANDBOX_LOGS,
    SANDBOX_OOM_FILE,
    SANDBOX_STATUS,
    SANDBOX_SUPERVISOR,
    StateLayout,
)
from dockyard.node.sandbox._spec import SANDBOX_GID, SANDBOX_UID, SandboxError

#: Host /etc entries a sandbox sees (read-only); nothing else of /etc, never shadow.
ETC_ENTRIES = (
    "passwd", "group", "hosts", "resolv.conf", "nsswitch.conf", "ld.so.cache",
    "ssl", "alternatives", "localtime",
)  # fmt: skip
#: Top-level host directories that hold programs and libraries; mirrored read-only (as the
#: symlinks they are on merged-/usr systems).
USERLAND_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")

SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Mount:
    """A host directory bind-mounted into the sandbox."""

    source: Path
    dest: str
    read_only: bool


@dataclass(frozen=True)
class BwrapPlan:
    layout: StateLayout
    hostname: str
    network: bool
    tmp_bytes: int
    mounts: tuple[Mount, ...]
    runtimes: tuple[ImageRuntime, ...]
    oom_file: Path | None
    devices: tuple[str, ...] = ()


def image_bin_dir(runtime: ImageRuntime) -> str:
    """Directory of the runtime's `bin_links` inside the sandbox (first on PATH)."""
    return f"{SANDBOX_IMAGES}/{runtime.name}/bin"


def container_path(runtime: ImageRuntime) -> str:
    if runtime.bin_links:
        return f"{image_bin_dir(runtime)}:{SANDBOX_PATH}"
    return SANDBOX_PATH


def _userland_args() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for path in USERLAND_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for entry in ETC_ENTRIES:
        # -try: a host without, say, /etc/alternatives still gets a working sandbox.
        args += ["--ro-bind-try", f"/etc/{entry}", f"/etc/{entry}"]
    return args


def bwrap_args(plan: BwrapPlan, bwrap: str = "bwrap") -> list[str]:
    """The bubblewrap command line for one Pod, ending with the supervisor command."""
    layout = plan.layout
    args = [
        bwrap,
        "--unshare-all",
        *(["--share-net"] if plan.network else []),
        # Explicit, because --disable-userns needs it: no nested user namespaces, which
        # keeps the kernel's user-namespace attack surface out of a Pod's reach.
        "--unshare-user",
        "--disable-userns",
        "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID),
        "--hostname", plan.hostname,
        "--die-with-parent",
        "--new-session",
        "--cap-drop", "ALL",
        "--clearenv",
        "--setenv", "PATH", SANDBOX_PATH,
        *_userland_args(),
        "--proc", "/proc",
        "--dev", "/dev",
        "--perms", "1777", "--size", str(plan.tmp_bytes), "--tmpfs", "/tmp",
    ]  # fmt: skip
    for device in plan.devices:
        args += ["--dev-bind-try", device, device]
    for mount in plan.mounts:
        flag = "--ro-bind" if mount.read_only else "--bind"
        args += [flag, str(mount.source), mount.dest]
    for runtime in plan.runtimes:
        for source, dest in runtime.ro_binds:
            args += ["--ro-bind-try", source, dest]
        if runtime.bin_links:
            bin_dir = image_bin_dir(runtime)
            args += ["--dir", bin_dir]
            for name, target in runtime.bin_links:
                args += ["--symlink", target, f"{bin_dir}/{name}"]
    args += [
        "--ro-bind", str(layout.supervisor), SANDBOX_SUPERVISOR,
        "--bind", str(layout.status), SANDBOX_STATUS,
        "--bind", str(layout.logs), SANDBOX_LOGS,
    ]  # fmt: skip
    if plan.oom_file is not None:
        args += ["--ro-bind", str(plan.oom_file), SANDBOX_OOM_FILE]
    args += [
        # Nothing outside the mounts above may be created or changed.
        "--remount-ro", "/",
        "--chdir", "/",
        "--json-status-fd", "3",
        "/bin/sh", SANDBOX_SUPERVISOR,
    ]  # fmt: skip
    return args


# Runs as root: join the Pod's cgroups before anything else, then drop privileges for good.
# $1 state dir, $2 monitor script, $3 number of cgroup.procs files, then those files, then
# the bubblewrap command line.
LAUNCHER = r"""state=$1; monitor=$2; n=$3; shift 3
while [ "$n" -gt 0 ]; do
  echo $$ > "$1" || { echo "dockyard: cannot join cgroup $1" >&2; exit 125; }
  shift; n=$((n - 1))
done
exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
  --no-new-privs -- /bin/sh -c "$monitor" dockyard-monitor "$state" "$@"
"""

# Runs as 65534 outside the namespaces: bubblewrap's parent, so bubblewrap (started with
# --die-with-parent) and the whole Pod die if this process is killed.
MONITOR = r"""state=$1; shift
"$@" 3> "$state/status/bwrap.json" &
child=$!
wait "$child"
rc=$?
if [ ! -e "$state/status/pod" ]; then
  read -r up _ < /proc/uptime
  printf 'finished_boot=%s\nmessage=%s\n' "$up" "sandbox exited with code $rc" \
    > "$state/status/.pod.tmp" && mv -f "$state/status/.pod.tmp" "$state/status/pod"
fi
exit "$rc"
"""


def launcher_argv(layout: StateLayout, procs_files: list[Path], bwrap: list[str]) -> list[str]:
    """argv of the Pod's supervisor process (to be spawned as root in a new session)."""
    return [
        "/bin/sh", "-c", LAUNCHER, "dockyard-launch",
        str(layout.root), MONITOR, str(len(procs_files)),
        *(str(p) for p in procs_files),
        *bwrap,
    ]  # fmt: skip


def find_tools() -> tuple[str, str]:
    """Absolute paths of bwrap and setpriv; raises SandboxError naming what is missing."""
    search = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    bwrap = shutil.which("bwrap", path=search)
    setpriv = shutil.which("setpriv", path=search)
    missing = [name for name, path in (("bwrap", bwrap), ("setpriv", setpriv)) if not path]
    if missing or bwrap is None or setpriv is None:
        raise SandboxError(
            f"missing {', '.join(missing)}: install bubblewrap and util-linux on this node"
        )
    return bwrap, setpriv


def mounts_cover(dests: Iterable[str], path: str) -> bool:
    """True when `path` is one of the mount destinations `dests` or lies below one."""
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in dests)
