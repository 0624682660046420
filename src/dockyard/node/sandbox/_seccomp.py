"""A seccomp filter for sandboxes that run untrusted code: a classic-BPF program that
bubblewrap installs (``--seccomp FD``) right before it executes the sandbox's first process.

Node layer. The program refuses, with EPERM, the system calls an unprivileged process never
needs and that widen the kernel's attack surface or reach outside the sandbox: ptrace and
cross-process memory access, mount and the new mount API, the keyctl family, namespace
changes, bpf, perf_event_open, kexec, module loading, open_by_handle_at, and the TIOCSTI
ioctl (typing into another terminal). Everything else is allowed. A foreign architecture
(x32 or 32-bit calls on x86_64) is killed outright so the table cannot be bypassed.

`seccomp_program()` returns the program as the bytes bubblewrap reads (an array of
``struct sock_filter``); `DENIED_SYSCALLS` lists what it refuses, for tests and docs.
"""

from __future__ import annotations

import errno
import platform
import struct

from dockyard.node.sandbox._spec import SandboxError

#: Refused with EPERM (names as in the kernel's syscall tables).
DENIED_SYSCALLS: tuple[str, ...] = (
    "ptrace", "process_vm_readv", "process_vm_writev",
    "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr",
    "keyctl", "add_key", "request_key",
    "unshare", "setns",
    "bpf", "perf_event_open", "userfaultfd",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "open_by_handle_at", "name_to_handle_at",
    "swapon", "swapoff", "reboot", "acct", "quotactl", "syslog",
)  # fmt: skip

#: The terminal ioctl that pushes bytes into a terminal's input queue.
TIOCSTI = 0x5412

# Syscall numbers per architecture: (AUDIT_ARCH value, {name: number}).
_TABLES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (
        0xC000003E,
        {
            "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
            "mount": 165, "umount2": 166, "pivot_root": 155, "move_mount": 429,
            "open_tree": 428, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
            "mount_setattr": 442, "keyctl": 250, "add_key": 248, "request_key": 249,
            "unshare": 272, "setns": 308, "bpf": 321, "perf_event_open": 298,
            "userfaultfd": 323, "kexec_load": 246, "kexec_file_load": 320,
            "init_module": 175, "finit_module": 313, "delete_module": 176,
            "open_by_handle_at": 304, "name_to_handle_at": 303, "swapon": 167,
            "swapoff": 168, "reboot": 169, "acct": 163, "quotactl": 179, "syslog": 103,
            "ioctl": 16,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271,
            "mount": 40, "umount2": 39, "pivot_root": 41, "move_mount": 429,
            "open_tree": 428, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
            "mount_setattr": 442, "keyctl": 219, "add_key": 217, "request_key": 218,
            "unshare": 97, "setns": 268, "bpf": 280, "perf_event_open": 241,
            "userfaultfd": 282, "kexec_load": 104, "kexec_file_load": 294,
            "init_module": 105, "finit_module": 273, "delete_module": 106,
            "open_by_handle_at": 265, "name_to_handle_at": 264, "swapon": 224,
            "swapoff": 225, "reboot": 142, "acct": 89, "quotactl": 60, "syslog": 116,
            "ioctl": 29,
        },
    ),
}  # fmt: skip

# Classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_RET_K = 0x06
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
# Offsets in struct seccomp_data.
_NR, _ARCH, _ARG1_LO = 0, 4, 24
_X32_BIT = 0x40000000


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k & 0xFFFFFFFF)


def seccomp_program(machine: str | None = None) -> bytes:
    """The filter for this machine's architecture (or `machine`, as `platform.machine()`
    names it). Raises SandboxError for an architecture without a syscall table."""
    name = machine or platform.machine()
    if name not in _TABLES:
        raise SandboxError(f"no seccomp syscall table for architecture {name!r}")
    audit_arch, numbers = _TABLES[name]
    deny = _RET_ERRNO | errno.EPERM
    body: list[bytes] = []
    # ioctl(fd, TIOCSTI, ...) is refused; other ioctls pass. The low 32 bits of the request
    # are compared: the kernel truncates the command to an unsigned int.
    body += [
        _insn(_JEQ_K, 0, 3, numbers["ioctl"]),
        _insn(_LD_W_ABS, 0, 0, _ARG1_LO),
        _insn(_JEQ_K, 0, 1, TIOCSTI),
        _insn(_RET_K, 0, 0, deny),
        _insn(_LD_W_ABS, 0, 0, _NR),
    ]
    for syscall in DENIED_SYSCALLS:
        body += [_insn(_JEQ_K, 0, 1, numbers[syscall]), _insn(_RET_K, 0, 0, deny)]
    head = [
        _insn(_LD_W_ABS, 0, 0, _ARCH),
        _insn(_JEQ_K, 1, 0, audit_arch),
        _insn(_RET_K, 0, 0, _RET_KILL_PROCESS),
        _insn(_LD_W_ABS, 0, 0, _NR),
    ]
    if name == "x86_64":
        # x32 system calls carry bit 30 and have their own numbers: refuse them all.
        head += [_insn(_JGE_K, 0, 1, _X32_BIT), _insn(_RET_K, 0, 0, deny)]
    return b"".join([*head, *body, _insn(_RET_K, 0, 0, _RET_ALLOW)])
