"""Runs the workflow operator against an in-memory world in virtual time.

Pods do not run: each created Pod is finished by ``behaviour(pod) -> PodOutcome`` (exit
code, stdout, files written), or left running when it returns None. The clock only moves
when the driver advances it, so backoff, suspend durations and deadlines take no time.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dockyard.workflows._memo import MemoCache
from dockyard.workflows._operator import WorkflowOperator
from dockyard.workflows._pods import StepFiles
from dockyard.workflows._sync import SyncManager


@dataclass
class PodOutcome:
    exit_code: int = 0
    stdout: str = ""
    files: dict[str, str] = field(default_factory=dict)


Behaviour = Callable[[dict[str, Any]], PodOutcome | None]
_EXIT = re.compile(r"exit (\d+)")


def by_command(pod: dict[str, Any]) -> PodOutcome | None:
    """Default behaviour: ``exit N`` in the command exits N; ``sleep`` runs forever;
    ``echo X`` prints X."""
    argv = " ".join(pod["spec"]["containers"][0]["command"][4:])
    if "sleep" in argv:
        return None
    match = _EXIT.search(argv)
    echo = re.search(r"echo (\S+)", argv)
    return PodOutcome(int(match.group(1)) if match else 0, echo.group(1) if echo else "")


class FakeEnv:
    def __init__(
        self, root: Path, templates: dict[tuple[str, str, str], dict[str, Any]] | None = None
    ):
        self.clock = datetime(2024, 1, 1, tzinfo=UTC)
        self.pods: dict[str, dict[str, Any]] = {}
        self.created: list[str] = []
        self.deleted: list[str] = []
        self.templates = templates or {}
        self._root = root
        self._sync = SyncManager({"my-config/workflow": 1})
        self._memo = MemoCache(None)
        self.max_active = 0

    def now(self) -> datetime:
        return self.clock

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.pods.get(name)

    def create_pod(self, pod: dict[str, Any]) -> None:
        self.pods[pod["metadata"]["name"]] = pod
        self.created.append(pod["metadata"]["name"])

    def delete_pod(self, namespace: str, name: str) -> None:
        if self.pods.pop(name, None) is not None:
            self.deleted.append(name)

    def lookup(self, kind_key: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.templates.get((kind_key, namespace, name))

    @property
    def files_root(self) -> Path:
        return self._root

    @property
    def sync(self) -> SyncManager:
        return self._sync

    @property
    def memo(self) -> MemoCache:
        return self._memo


def workflow(spec: dict[str, Any], name: str = "wf") -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "creationTimestamp": "2024-01-01T00:00:00Z",
        },
        "spec": spec,
        "status": {"phase": "Running"},
    }


def run(
    env: FakeEnv,
    wf: dict[str, Any],
    behaviour: Behaviour = by_command,
    *,
    max_passes: int = 200,
    between: Callable[[dict[str, Any], int], None] | None = None,
) -> dict[str, Any]:
    """Operate until the workflow finishes (or ``max_passes``); returns the workflow."""
    wf = copy.deepcopy(wf)
    for index in range(max_passes):
        result = WorkflowOperator(wf, env).operate()
        wf["status"] = result.status
        if result.finished:
            return wf
        if between is not None:
            between(wf, index)
        active = 0
        for name, pod in list(env.pods.items()):
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            outcome = behaviour(pod)
            if outcome is None:
                pod["status"] = {"phase": "Running"}
                active += 1
                continue
            files = StepFiles(env.files_root, wf["metadata"]["uid"], name)
            files.argo.mkdir(parents=True, exist_ok=True)
            (files.argo / "stdout").write_text(outcome.stdout + "\n")
            for sandbox_path, text in outcome.files.items():
                for volume in pod["spec"]["volumes"]:
                    mount = next(
                        m
                        for m in pod["spec"]["containers"][0]["volumeMounts"]
                        if m["name"] == volume["name"]
                    )
                    if sandbox_path.startswith(mount["mountPath"] + "/"):
                        target = (
                            Path(volume["hostPath"]["path"])
                            / sandbox_path[len(mount["mountPath"]) + 1 :]
                        )
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_text(text)
            pod["status"] = {
                "phase": "Succeeded" if outcome.exit_code == 0 else "Failed",
                "containerStatuses": [
                    {"name": "main", "state": {"terminated": {"exitCode": outcome.exit_code}}}
                ],
            }
        env.max_active = max(env.max_active, active)
        step = result.requeue_after if result.requeue_after is not None else 1.0
        env.clock += timedelta(seconds=max(step, 0.001))
    return wf


def phases(wf: dict[str, Any]) -> dict[str, str]:
    """displayName → phase for every node."""
    return {n["displayName"]: n["phase"] for n in wf["status"]["nodes"].values()}
