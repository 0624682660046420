"""Isolation building blocks shared by every kind of sandbox this node runs.

Node layer. `PodSandbox` assembles these into Pods; the agent-sandbox runtime
(`dockyard.sandbox`) assembles them into long-lived sandboxes with a seccomp filter, a
quota'd home and a daemon. One definition of each, so both kinds of sandbox get the same
read-only host userland, the same privilege drop and the same cgroup handling:

- `userland_args()`: bubblewrap arguments for the read-only host userland and /etc subset.
- `launcher_argv()`: the root launcher that joins cgroups, drops to uid 65534 with
  no_new_privs and no capabilities, and runs bubblewrap under a monitor.
- `create_pod_cgroup()` / `PodCgroup` (`OpenProcs`: joining it from another thread):
  per-sandbox cgroup with limits, OOM count,
  kill-all and freeze/thaw; `cgroup_driver()` says which hierarchy is in use and
  `cgroup_parents()` where Dockyard's cgroups live in it.
- `seccomp_program()`: the BPF filter refusing dangerous system calls (`DENIED_SYSCALLS`).
- `process_start_time()` / `process_running()` / `process_descendants()`: identity of
  processes that outlive the control plane; `process_cpu_seconds()`: what one used.
"""

from dockyard.node.sandbox._bwrap import LAUNCHER, MONITOR, SANDBOX_PATH, find_tools
from dockyard.node.sandbox._bwrap import _userland_args as userland_args
from dockyard.node.sandbox._cgroups import (
    OpenProcs,
    PodCgroup,
    cgroup_driver,
    cgroup_parents,
    create_pod_cgroup,
)
from dockyard.node.sandbox._layout import check_traversable
from dockyard.node.sandbox._procs import cpu_seconds as process_cpu_seconds
from dockyard.node.sandbox._procs import descendants_of as process_descendants
from dockyard.node.sandbox._procs import is_running as process_running
from dockyard.node.sandbox._procs import start_time as process_start_time
from dockyard.node.sandbox._seccomp import DENIED_SYSCALLS, TIOCSTI, seccomp_program
from dockyard.node.sandbox._spec import (
    DEFAULT_PIDS_LIMIT,
    SANDBOX_GID,
    SANDBOX_UID,
    SandboxError,
    SandboxLimits,
)

__all__ = [
    "DEFAULT_PIDS_LIMIT",
    "DENIED_SYSCALLS",
    "LAUNCHER",
    "MONITOR",
    "SANDBOX_GID",
    "SANDBOX_PATH",
    "SANDBOX_UID",
    "TIOCSTI",
    "OpenProcs",
    "PodCgroup",
    "SandboxError",
    "SandboxLimits",
    "cgroup_driver",
    "cgroup_parents",
    "check_traversable",
    "create_pod_cgroup",
    "find_tools",
    "process_cpu_seconds",
    "process_descendants",
    "process_running",
    "process_start_time",
    "seccomp_program",
    "userland_args",
]
