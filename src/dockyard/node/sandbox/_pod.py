"""`PodSandbox`: start, find again, observe and stop the sandbox of one Pod.

Node layer. The node agent calls `PodSandbox.start(spec)` for each Pod bound to this node,
polls `status()` (or waits on `pidfd()`), and calls `kill()` then `cleanup()` when the Pod is
deleted. After a control-plane restart it calls `adopt(state_dir)` for every Pod it knew:
sandboxes run on without the control plane, and everything needed to find them again is in
`state_dir/sandbox.json`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import select
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from dockyard.node.sandbox import _procs
from dockyard.node.sandbox._bwrap import bwrap_args, find_tools, launcher_argv
from dockyard.node.sandbox._cgroups import PodCgroup, cgroup_driver, create_pod_cgroup
from dockyard.node.sandbox._layout import StateLayout
from dockyard.node.sandbox._plan import plan_pod
from dockyard.node.sandbox._script import render_supervisor
from dockyard.node.sandbox._spec import PodSandboxSpec, SandboxError, SandboxStatus
from dockyard.node.sandbox._status import boot_seconds, format_record, read_status

log = logging.getLogger(__name__)

_META_VERSION = 1
# How long a SIGKILLed or finishing supervisor may take to be gone.
_EXIT_WAIT_SECONDS = 5.0
# How long the processes of a sandbox found dead may take to leave its cgroup.
_DRAIN_SECONDS = 1.0
_CHILD_PID_RE = re.compile(r'"child-pid"\s*:\s*(\d+)')
# The launcher's own environment; containers get theirs from the supervisor script.
_LAUNCH_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


class PodSandbox:
    """Handle on one Pod's sandbox. Obtain it from `start` or `adopt`, never directly."""

    def __init__(
        self,
        state_dir: Path,
        pid: int,
        start_time: int | None,
        cgroup: PodCgroup,
        init_names: list[str],
        app_names: list[str],
        process: subprocess.Popen[bytes] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.pid = pid
        self._start_time = start_time
        self._cgroup = cgroup
        self._init_names = init_names
        self._app_names = app_names
        self._process = process
        self._layout = StateLayout(state_dir)

    # --- creating ---------------------------------------------------------------------

    @classmethod
    def start(cls, spec: PodSandboxSpec) -> PodSandbox:
        """Create the Pod's state directory and cgroup and spawn its supervisor; returns as
        soon as the supervisor process exists (containers start shortly after).

        Raises UnknownImageError for an unsupported image and SandboxError for an invalid
        spec or a host that cannot run sandboxes; nothing is left running on failure.
        """
        bwrap, _ = find_tools()
        plan = plan_pod(spec)
        if cls.adopt(spec.state_dir) is not None:
            raise SandboxError(f"a sandbox is already running in {spec.state_dir}")
        layout = StateLayout(spec.state_dir)
        layout.create(list(plan.emptydirs), plan.extra_dirs)
        # Records of an earlier run in the same directory would be mistaken for this one's.
        for stale in (*layout.status.iterdir(), layout.meta, spec.state_dir / "oom_kills"):
            stale.unlink(missing_ok=True)
        layout.supervisor.write_text(render_supervisor(plan.supervisor))
        os.chmod(layout.supervisor, 0o644)

        cgroup = create_pod_cgroup(plan.cgroup_key, spec.limits, cgroup_driver())
        try:
            argv = launcher_argv(
                layout,
                cgroup.procs_files,
                bwrap_args(replace(plan.bwrap, oom_file=cgroup.oom_file), bwrap),
            )
            with layout.sandbox_log.open("ab") as sandbox_log:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=sandbox_log,
                    stderr=sandbox_log,
                    cwd=layout.root,
                    env=_LAUNCH_ENV,
                    # Own session and no parent-death signal: the Pod outlives the control
                    # plane that started it.
                    start_new_session=True,
                )
        except OSError as exc:
            cgroup.remove()
            raise SandboxError(f"cannot start sandbox of pod {spec.pod_name!r}: {exc}") from exc

        sandbox = cls(
            spec.state_dir,
            process.pid,
            _procs.start_time(process.pid),
            cgroup,
            [c.name for c in spec.init_containers],
            [c.name for c in spec.containers],
            process,
        )
        try:
            sandbox._save_meta(spec)
        except OSError as exc:
            # Without its record the sandbox could never be adopted: do not leave it running.
            sandbox.kill(grace_seconds=0)
            raise SandboxError(f"cannot record sandbox of pod {spec.pod_name!r}: {exc}") from exc
        log.info(
            "pod sandbox started",
            extra={
                "pod": spec.pod_name,
                "pod_uid": spec.pod_uid,
                "pid": process.pid,
                "cgroup_driver": cgroup.driver,
            },
        )
        return sandbox

    def _save_meta(self, spec: PodSandboxSpec) -> None:
        meta: dict[str, Any] = {
            "version": _META_VERSION,
            "pod_uid": spec.pod_uid,
            "pod_name": spec.pod_name,
            "pid": self.pid,
            "start_time": self._start_time,
            "cgroup": self._cgroup.to_json(),
            "init_containers": self._init_names,
            "containers": self._app_names,
        }
        _write_atomic(self._layout.meta, json.dumps(meta, indent=2))

    @classmethod
    def adopt(cls, state_dir: Path) -> PodSandbox | None:
        """The sandbox recorded in `state_dir` if its supervisor still runs, else None.
        A reused pid is told apart by its start time. The cgroup a dead sandbox left behind
        (it ended while the control plane was down) is removed, keeping its OOM count in
        state_dir, so its final status can still be read and nothing leaks."""
        try:
            meta = json.loads(StateLayout(state_dir).meta.read_text())
            pid = int(meta["pid"])
            start_time = meta["start_time"]
            cgroup = PodCgroup.from_json(meta["cgroup"])
            inits, apps = list(meta["init_containers"]), list(meta["containers"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        sandbox = cls(state_dir, pid, start_time, cgroup, inits, apps)
        if not _procs.is_running(pid, start_time):
            # Processes of a sandbox that just ended may still be exiting; members that stay
            # would mean the record is not what it seems, so then the cgroup is left alone.
            deadline = time.monotonic() + _DRAIN_SECONDS
            while sandbox._cgroup.pids() and time.monotonic() < deadline:
                time.sleep(0.01)
            if sandbox._cgroup.pids():
                log.warning("cgroup of dead sandbox %s still has processes", state_dir)
            else:
                sandbox._release_cgroup()
            return None
        return sandbox

    # --- observing --------------------------------------------------------------------

    def alive(self) -> bool:
        """True while the supervisor process runs (reaps it when it is our child)."""
        if self._process is not None:
            return self._process.poll() is None
        return _procs.is_running(self.pid, self._start_time)

    def pidfd(self) -> int | None:
        """A pidfd for the supervisor (readable once it exits), for event loops; the caller
        closes it. None where pidfds are unsupported or the process is gone."""
        if not self.alive():
            return None
        try:
            return os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            return None

    def status(self) -> SandboxStatus:
        """The Pod's status from the files in state_dir (cheap; no process is contacted)."""
        return read_status(
            self._layout, self._init_names, self._app_names, self.alive(), self._oom_kills()
        )

    def log_path(self, container: str) -> Path:
        """File holding `container`'s stdout and stderr, appended across restarts."""
        return self._layout.log(container)

    def _oom_kills(self) -> int:
        if self._cgroup.exists():
            return self._cgroup.oom_kills()
        try:
            return int((self.state_dir / "oom_kills").read_text())
        except (OSError, ValueError):
            return 0

    # --- stopping ---------------------------------------------------------------------

    def kill(self, grace_seconds: float = 5.0) -> None:
        """Stop the Pod: SIGTERM to every container, up to `grace_seconds` for them to exit,
        then SIGKILL to everything left (the whole cgroup). Reaps the supervisor if it is
        our child, records the end, and removes the cgroup. Idempotent."""
        if self.alive() and grace_seconds > 0:
            deadline = time.monotonic() + grace_seconds
            if self._request_stop(deadline):
                self._wait_exit(deadline - time.monotonic())
        if self.alive():
            # Killing the monitor makes bubblewrap (--die-with-parent) take the Pod down;
            # the cgroup catches anything that escaped the tree.
            pids = {*_procs.descendants_of(self.pid), *self._cgroup.pids()}
            # (pid, start time), so that waiting below cannot mistake a reused pid.
            victims = [(pid, _procs.start_time(pid)) for pid in pids]
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self._wait_exit(_EXIT_WAIT_SECONDS)
            # A killed pid-namespace init leaves its cgroup before it has finished exiting;
            # wait until every process is really gone.
            deadline = time.monotonic() + _EXIT_WAIT_SECONDS
            while time.monotonic() < deadline and any(
                started is not None and _procs.is_running(pid, started) for pid, started in victims
            ):
                time.sleep(0.005)
        self._cgroup.kill_all()
        if not self._layout.pod_record.exists() and self._layout.status.is_dir():
            record = format_record(finished_boot=f"{boot_seconds():.2f}", message="killed")
            _write_atomic(self._layout.pod_record, record)
        self.cleanup()

    def _request_stop(self, deadline: float) -> bool:
        """SIGTERM the in-sandbox supervisor, which forwards it to each container and
        records their ends. False when it cannot be found before `deadline`."""
        while True:
            supervisor = self._supervisor_in_sandbox()
            if supervisor is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(supervisor, signal.SIGTERM)
                return True
            if not self.alive() or time.monotonic() >= deadline:
                return False
            time.sleep(0.005)  # bubblewrap is still setting up

    def _supervisor_in_sandbox(self) -> int | None:
        try:
            match = _CHILD_PID_RE.search(self._layout.bwrap_json.read_text())
        except OSError:
            return None
        if match is None:
            return None
        init = int(match.group(1))
        if init not in _procs.descendants_of(self.pid):
            return None
        # bubblewrap's init (pid 1 in the Pod) runs the supervisor as its only child.
        children = _procs.children_of(init)
        return children[0] if children else None

    def _wait_exit(self, timeout: float) -> None:
        if timeout <= 0:
            return
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=timeout)
            return
        fd = self.pidfd()
        if fd is not None:
            try:
                select.select([fd], [], [], timeout)
            finally:
                os.close(fd)
            return
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.01)

    def cleanup(self) -> None:
        """Remove the Pod's cgroup (state_dir stays for the caller to remove). The sandbox
        must have stopped; one that just recorded its end gets a few seconds to exit.
        Raises SandboxError while it still runs."""
        if self.alive():
            self._wait_exit(_EXIT_WAIT_SECONDS)
        if self.alive():
            raise SandboxError(f"sandbox {self.state_dir} is still running; kill() it first")
        self._release_cgroup()

    def _release_cgroup(self) -> None:
        if self._cgroup.exists():
            # Keep the OOM count so status() can still report it without the cgroup (a
            # missing file reads as 0, so the common case costs no file).
            oom_kills = self._cgroup.oom_kills()
            if oom_kills:
                _write_atomic(self.state_dir / "oom_kills", str(oom_kills))
            self._cgroup.kill_all()
            self._cgroup.remove()
