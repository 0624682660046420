"""Generates the POSIX sh supervisor that runs inside a Pod's sandbox.

Node layer. `PodSandbox.start` renders one script per Pod from a `SupervisorPlan` and
bubblewrap runs it as the sandbox's main process. The script runs init containers in order,
then all app containers concurrently, each under the Pod's restart policy with exponential
backoff, and records every container's state in one file per container under the status
directory. It is a pure text builder so it can be unit-tested without running anything.

Record format: each state change appends one line to `status/c-<name>`, tab-separated
`key=value` fields: state, restart_count, started_boot, finished_boot, exit_code, reason,
last_exit_code. The last complete line is the container's state; a reader ignores a line
still being written (no trailing newline yet), so no record is ever seen torn. The pod
record (`status/pod`, fields finished_boot and message) is appended once no container will
run again. Appending with the shell's `printf` builtin costs no process, where writing a
temporary file and renaming it took a fork and an exec of `mv` per record. Times are
seconds since boot (CLOCK_BOOTTIME, read from /proc/uptime with a shell builtin, 10 ms
resolution) because `date` would cost a fork and exec on every state change.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.node.sandbox._layout import SANDBOX_LOGS, SANDBOX_OOM_FILE, SANDBOX_STATUS
from dockyard.node.sandbox._spec import RestartPolicy

#: At most this many distinct backoff delays are listed; the last one then repeats.
MAX_BACKOFF_STEPS = 16
#: A container that ran at least this long before exiting restarts with the first delay.
BACKOFF_RESET_SECONDS = 600

_SH_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Variables the shell itself manages; exporting them from sh is unreliable.
_SH_SPECIAL = frozenset({"IFS", "PPID", "OPTIND", "OPTARG", "LINENO", "PS1", "PS2", "PS4"})


@dataclass(frozen=True)
class ContainerPlan:
    """One container as the supervisor runs it: final argv, complete env (in order; later
    entries win), working directory, and whether the directory must be created first."""

    name: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    working_dir: str
    make_working_dir: bool = False


@dataclass(frozen=True)
class SupervisorPlan:
    pod_name: str
    pod_uid: str
    init_containers: tuple[ContainerPlan, ...]
    containers: tuple[ContainerPlan, ...]
    restart_policy: RestartPolicy
    backoffs: tuple[float, ...]


def quote(value: str) -> str:
    """Single-quote `value` for sh; safe for any string without NUL."""
    if "\0" in value:
        raise ValueError("NUL byte in a command, argument or environment value")
    return "'" + value.replace("'", "'\\''") + "'"


def backoff_schedule(initial: float, maximum: float) -> tuple[float, ...]:
    """Delays before restart 1, 2, ...: doubling from `initial`, capped at `maximum`; the
    last entry repeats forever."""
    delay = max(0.0, initial)
    cap = max(delay, maximum)
    steps: list[float] = []
    while len(steps) < MAX_BACKOFF_STEPS:
        steps.append(min(delay, cap))
        if delay >= cap or delay == 0.0:
            break
        delay *= 2
    return tuple(steps)


def _fmt_seconds(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") or "0"


_PRELUDE = r"""set -u
stopping=0
woken=0
cpid=
spid=
loops=
code=0
reason=
started=
finished=
restarts=0
last=

# Sets up to seconds since boot, without forking.
now() { read -r up _ < /proc/uptime; }

# Sets oom to the cgroup's OOM-kill counter (mounted read-only by the launcher when cgroups
# are in use). A function setting a variable, not $(...), to spare a fork per attempt.
read_oom() {
  oom=0
  if [ -r "$OOM" ]; then
    while read -r k v; do
      if [ "$k" = oom_kill ]; then oom=$v; fi
    done < "$OOM"
  fi
}

# record NAME STATE RESTARTS STARTED FINISHED EXIT REASON LAST_EXIT: append one line.
record() {
  printf 'state=%s\trestart_count=%s\tstarted_boot=%s\tfinished_boot=%s\texit_code=%s\treason=%s\tlast_exit_code=%s\n' \
    "$2" "$3" "$4" "$5" "$6" "$7" "$8" >> "$S/c-$1"
}

finish() {
  now
  printf 'finished_boot=%s\tmessage=%s\n' "$up" "$1" >> "$S/pod"
}

# wait_for PID: sets rc to PID's exit status. A trap that runs during `wait` makes it return
# 128+signal while the status is still pending (the trap sets woken), so wait again; if the
# status had in fact been reported already, `wait` now answers 127 and rc keeps the status.
wait_for() {
  rc=
  while :; do
    woken=0
    wait "$1"
    got=$?
    if [ "$woken" = 0 ]; then
      if [ -z "$rc" ] || [ "$got" -ne 127 ]; then rc=$got; fi
      return 0
    fi
    rc=$got
  done
}

# Each container runs in its own session, so signal its whole process group.
stop_child() {
  if [ -n "$cpid" ]; then
    kill -TERM -"$cpid" 2>/dev/null || kill -TERM "$cpid" 2>/dev/null
  fi
  if [ -n "$spid" ]; then kill -TERM "$spid" 2>/dev/null; fi
}

on_stop() {
  woken=1
  stopping=1
  stop_child
  for p in $loops; do kill -TERM "$p" 2>/dev/null; done
}

next_backoff() {
  set -- $backoffs
  delay=$1
  if [ $# -gt 1 ]; then
    shift
    backoffs=$*
  fi
}

# attempt INDEX NAME: run the container once; sets code and reason.
attempt() {
  read_oom
  before=$oom
  "launch_$1"
  now
  started=$up
  record "$2" running "$restarts" "$started" "" "" "" "$last"
  wait_for "$cpid"
  code=$rc
  now
  finished=$up
  # Processes the attempt left behind in its session must not outlive it.
  kill -KILL -"$cpid" 2>/dev/null
  cpid=
  read_oom
  if [ "$code" -eq 0 ]; then
    reason=Completed
  elif [ "$code" -eq 137 ] && [ "$oom" != "$before" ]; then
    reason=OOMKilled
  else
    reason=Error
  fi
  record "$2" terminated "$restarts" "$started" "$finished" "$code" "$reason" "$last"
}

# run_container INDEX NAME POLICY: attempts with restarts and backoff; sets code.
run_container() {
  restarts=0
  last=
  backoffs=$BACKOFFS
  while :; do
    attempt "$1" "$2"
    if [ "$stopping" = 1 ]; then return 0; fi
    case $3 in
      Always) ;;
      OnFailure) if [ "$code" -eq 0 ]; then return 0; fi ;;
      *) return 0 ;;
    esac
    # As in Kubernetes, a container that ran for a while starts its backoff afresh.
    if [ $((${finished%.*} - ${started%.*})) -ge "$BACKOFF_RESET" ]; then backoffs=$BACKOFFS; fi
    next_backoff
    record "$2" waiting "$restarts" "" "" "" CrashLoopBackOff "$code"
    sleep "$delay" &
    spid=$!
    wait_for "$spid"
    spid=
    if [ "$stopping" = 1 ]; then
      # Stopped while waiting to restart: the last attempt is the final state.
      record "$2" terminated "$restarts" "$started" "$finished" "$code" "$reason" "$last"
      return 0
    fi
    last=$code
    restarts=$((restarts + 1))
  done
}

app_loop() {
  trap 'woken=1; stopping=1; stop_child' TERM INT
  run_container "$1" "$2" "$POLICY"
  exit "$code"
}
"""


def _exportable(name: str) -> bool:
    return bool(_SH_NAME.match(name)) and name not in _SH_SPECIAL


def _launch_function(index: int, plan: ContainerPlan) -> str:
    argv_words = " ".join(quote(a) for a in plan.argv)
    wd = quote(plan.working_dir)
    prepare = f"mkdir -p {wd} && cd {wd}" if plan.make_working_dir else f"cd {wd}"
    log = quote(f"{SANDBOX_LOGS}/{plan.name}.log")
    if all(_exportable(k) for k, _ in plan.env):
        # The supervisor's environment is only PATH (bubblewrap --clearenv) and its own
        # variables are not exported, so exporting the container's env in the subshell gives
        # the container exactly that env, without the cost of exec'ing `env`.
        # `cd` exports OLDPWD (and PWD) from the shell; they are not the container's.
        exports = " ".join(f"{k}={quote(v)}" for k, v in plan.env)
        export = f"export {exports} && " if exports else ""
        run = f"unset OLDPWD PWD; {export}exec setsid -w {argv_words}"
    else:
        # Names such as A.B are legal in Kubernetes but not in sh: let `env -i` set them.
        env_words = " ".join(quote(f"{k}={v}") for k, v in plan.env)
        run = f"exec setsid -w env -i {env_words} {argv_words}"
    # `setsid` gives the container a process group of its own, so it can be stopped whole.
    return (
        f"launch_{index}() {{\n"
        f"  ( {prepare} && {run} ) >> {log} 2>&1 < /dev/null &\n"
        "  cpid=$!\n"
        "}\n"
    )


def render_supervisor(plan: SupervisorPlan) -> str:
    """The supervisor script for `plan`. Exit status: 0 when every app container ran to its
    end (or the Pod was stopped), 1 when an init container failed."""
    for container in (*plan.init_containers, *plan.containers):
        if container.argv and "=" in container.argv[0]:
            # `env` would take it for a variable assignment.
            raise ValueError(
                f"container {container.name}: command {container.argv[0]!r} contains '='"
            )
        if not container.argv:
            raise ValueError(f"container {container.name}: empty command")
    init_policy = "Never" if plan.restart_policy == "Never" else "OnFailure"
    backoffs = " ".join(_fmt_seconds(b) for b in plan.backoffs) or "0"
    out: list[str] = [
        "#!/bin/sh\n",
        f"# Dockyard Pod supervisor for pod {_comment(plan.pod_name)} "
        f"({_comment(plan.pod_uid)}). Generated; runs inside the Pod's sandbox.\n",
        f"S={SANDBOX_STATUS}\n",
        f"OOM={SANDBOX_OOM_FILE}\n",
        f"POLICY={plan.restart_policy}\n",
        f"BACKOFFS={quote(backoffs)}\n",
        f"BACKOFF_RESET={BACKOFF_RESET_SECONDS}\n",
        _PRELUDE,
    ]
    everyone: Sequence[ContainerPlan] = (*plan.init_containers, *plan.containers)
    for index, container in enumerate(everyone):
        out.append(_launch_function(index, container))
    out.append("\ntrap on_stop TERM INT\n")
    for index, container in enumerate(plan.init_containers):
        name = quote(container.name)
        out.append(
            f"run_container {index} {name} {init_policy}\n"
            'if [ "$stopping" = 1 ]; then finish stopped; exit 0; fi\n'
            f'if [ "$code" -ne 0 ]; then\n'
            f'  finish "init container {container.name} failed with exit code $code"\n'
            "  exit 1\n"
            "fi\n"
        )
    # A stop that lands between the init and app phases must not start app containers.
    out.append('if [ "$stopping" = 1 ]; then finish stopped; exit 0; fi\n')
    offset = len(plan.init_containers)
    for index, container in enumerate(plan.containers, start=offset):
        out.append(f'app_loop {index} {quote(container.name)} &\nloops="$loops $!"\n')
    out.append(
        'for p in $loops; do wait_for "$p"; done\n'
        'if [ "$stopping" = 1 ]; then finish stopped; else finish ""; fi\n'
        "exit 0\n"
    )
    return "".join(out)


def _comment(text: str) -> str:
    return text.replace("\n", " ")
