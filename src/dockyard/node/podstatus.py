"""Sandbox state → Pod status, with Kubernetes phase rules.

* Pending: nothing started yet.
* Running: the sandbox is up (init containers may still be running).
* Succeeded: the sandbox finished and every app container exited 0.
* Failed: the sandbox finished (or vanished) and some container did not exit 0, or the
  node killed the Pod (deadline, shutdown, lost sandbox).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dockyard.node.sandbox import ContainerState, SandboxStatus
from dockyard.store import format_time


def _time(value: datetime | None) -> str | None:
    return format_time(value) if value is not None else None


def container_status(state: ContainerState, image: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": state.name,
        "image": image,
        "restartCount": state.restart_count,
        "ready": state.state == "running",
        "started": state.state == "running",
    }
    if state.state == "running":
        out["state"] = {"running": {"startedAt": _time(state.started_at)}}
    elif state.state == "terminated":
        terminated: dict[str, Any] = {
            "exitCode": state.exit_code if state.exit_code is not None else -1,
            "reason": state.reason or ("Completed" if state.exit_code == 0 else "Error"),
        }
        if state.started_at:
            terminated["startedAt"] = _time(state.started_at)
        if state.finished_at:
            terminated["finishedAt"] = _time(state.finished_at)
        out["state"] = {"terminated": terminated}
    else:
        out["state"] = {"waiting": {"reason": state.reason or "PodInitializing"}}
    return out


def phase_of(status: SandboxStatus) -> str:
    if not status.finished:
        return "Running"
    everything = [*status.init_containers, *status.containers]
    if everything and all(c.state == "terminated" and c.exit_code == 0 for c in everything):
        return "Succeeded"
    return "Failed"


def apply_sandbox_status(pod: dict[str, Any], status: SandboxStatus) -> None:
    """Write container statuses and the phase into ``pod['status']`` (in place)."""
    spec = pod["spec"]
    images = {
        c["name"]: c["image"] for c in [*(spec.get("initContainers") or []), *spec["containers"]]
    }
    pod_status = pod.setdefault("status", {})
    if status.init_containers:
        pod_status["initContainerStatuses"] = [
            container_status(c, images.get(c.name, "")) for c in status.init_containers
        ]
    pod_status["containerStatuses"] = [
        container_status(c, images.get(c.name, "")) for c in status.containers
    ]
    phase = phase_of(status)
    pod_status["phase"] = phase
    if phase == "Failed":
        if status.oom_killed:
            pod_status["reason"] = "OOMKilled"
        if status.message:
            pod_status["message"] = status.message


def summarize_exit(status: SandboxStatus) -> str | None:
    failed = [
        c
        for c in [*status.init_containers, *status.containers]
        if c.state == "terminated" and c.exit_code
    ]
    if not failed:
        return None
    return ", ".join(f"container {c.name} exited with {c.exit_code}" for c in failed)
