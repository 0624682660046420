"""Running workflow steps on Ray.

Workflows layer. A workflow (``metadata.annotations``) or a template
(``metadata.annotations``, which win) asks for Ray with
``workflows.dockyard.io/executor: ray``. Such a step is still a Dockyard Pod — visible to
``dockyard get pods``, garbage-collected and read back by the operator like any other —
but its ``schedulerName`` is ``ray``: the default scheduler and node agents leave it
alone and :class:`RayPodRunner` runs it as a Ray task instead:

* **Resources.** ``requests``/``limits`` ``cpu`` become ``num_cpus``, ``nvidia.com/gpu``
  ``num_gpus``, memory ``memory``; annotations override or add to them:
  ``ray-num-cpus``, ``ray-num-gpus`` (fractions allowed), ``ray-resources`` (a JSON map of
  custom resources), ``ray-scheduling-strategy`` (``SPREAD``), ``ray-max-retries`` (Ray's
  own retries after a lost worker or node; Argo's ``retryStrategy`` still makes a new
  attempt, and a new Ray task, per failure).
* **Results.** The task (:mod:`._ray_task`) returns exit code, stdout, stderr and output
  files; the runner writes them where a local Pod would have left them (step directory,
  Pod log), sets ``spec.nodeName`` to ``ray-<node id>`` and finishes the Pod, which wakes
  the workflow.
* **Cluster.** ``dockyard up --ray-address ADDR`` (or ``rayAddress`` in
  ``workflow-controller.yaml``, or ``RAY_ADDRESS``) connects to an existing cluster;
  otherwise a local Ray starts on the first Ray step.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dockyard.api.errors import NotFoundError
from dockyard.control import ObjectKey, Result
from dockyard.node.paths import pods_root
from dockyard.store import ObjectStore, StoreEvent, format_time, utc_now
from dockyard.workflows import _ray_task

log = logging.getLogger("dockyard.workflows.ray")
POD = "v1/Pod"
RAY_SCHEDULER = "ray"
PREFIX = "workflows.dockyard.io/"
EXECUTOR = PREFIX + "executor"
OUTPUT_PATHS = PREFIX + "output-paths"
RAY_KEYS = (
    "ray-num-cpus",
    "ray-num-gpus",
    "ray-resources",
    "ray-scheduling-strategy",
    "ray-max-retries",
)


def ray_annotations(workflow: dict[str, Any], template: dict[str, Any]) -> dict[str, str] | None:
    """The Ray settings of a step (workflow annotations, then the template's), or None
    when the step runs on a Dockyard node."""
    merged: dict[str, str] = {}
    for source in (workflow.get("metadata") or {}, template.get("metadata") or {}):
        for key, value in (source.get("annotations") or {}).items():
            if str(key).startswith(PREFIX):
                merged[str(key)] = str(value)
    if merged.get(EXECUTOR, "").lower() != "ray":
        return None
    return {k: v for k, v in merged.items() if k == EXECUTOR or k[len(PREFIX) :] in RAY_KEYS}


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _quantity(value: Any) -> float | None:
    if value is None:
        return None
    text = str(value).strip()
    units = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    binary = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    try:
        for suffix, factor in binary.items():
            if text.endswith(suffix):
                return float(text[: -len(suffix)]) * factor
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        return None


def task_options(pod: dict[str, Any]) -> dict[str, Any]:
    """Ray ``.options()`` for a step Pod: resources, retries, scheduling strategy."""
    annotations = pod["metadata"].get("annotations") or {}
    container = pod["spec"]["containers"][0]
    resources = container.get("resources") or {}
    wanted = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    options: dict[str, Any] = {"max_retries": 0}
    cpus = _quantity(annotations.get(PREFIX + "ray-num-cpus")) or _quantity(wanted.get("cpu"))
    options["num_cpus"] = cpus if cpus is not None else 1
    gpus = _quantity(annotations.get(PREFIX + "ray-num-gpus")) or _quantity(
        wanted.get("nvidia.com/gpu")
    )
    if gpus:
        options["num_gpus"] = gpus
    memory = _quantity(wanted.get("memory"))
    if memory:
        options["memory"] = int(memory)
    custom = annotations.get(PREFIX + "ray-resources")
    if custom:
        options["resources"] = {str(k): float(v) for k, v in json.loads(custom).items()}
    strategy = annotations.get(PREFIX + "ray-scheduling-strategy")
    if strategy:
        options["scheduling_strategy"] = strategy.upper()
    retries = annotations.get(PREFIX + "ray-max-retries")
    if retries:
        options["max_retries"] = int(retries)
    return options


def step_of(pod: dict[str, Any]) -> dict[str, Any]:
    """What :func:`._ray_task.run_step` needs, from a step Pod built by ``build_pod``."""
    container = pod["spec"]["containers"][0]
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts") or []}
    hosts = {v["name"]: v["hostPath"]["path"] for v in pod["spec"].get("volumes") or []}
    outputs = []
    for name, sandbox_path in mounts.items():
        if name.startswith("out"):
            outputs.append({"path": sandbox_path, "file": Path(hosts[name]).is_file()})
    script = None
    argo_host = hosts.get("argo")
    if argo_host:
        script_file = Path(argo_host) / "staging" / "script"
        if script_file.is_file():
            script = script_file.read_text()
    annotations = pod["metadata"].get("annotations") or {}
    deadline = pod["spec"].get("activeDeadlineSeconds")
    return {
        "argv": list(container["command"][4:]),  # past the /bin/sh -c WRAPPER argo prefix
        "env": {e["name"]: e.get("value", "") for e in container.get("env") or []},
        "workingDir": container.get("workingDir"),
        "script": script,
        "outputs": outputs,
        "paths": json.loads(annotations.get(OUTPUT_PATHS) or "[]"),
        "timeout": float(deadline) if deadline else None,
    }


class RayPodRunner:
    """Reconciles Pods whose ``schedulerName`` is ``ray``: one Ray task per Pod."""

    def __init__(self, store: ObjectStore, data_dir: Path, address: str | None = None) -> None:
        self.store = store
        self.data_dir = Path(data_dir)
        self.address = address
        self._remote: Any = None
        self._started_ray = False
        self._connecting: asyncio.Lock | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._refs: dict[str, Any] = {}
        self.nodes_used: set[str] = set()

    @staticmethod
    def is_ray_pod(event: StoreEvent) -> bool:
        return (event.object.get("spec") or {}).get("schedulerName") == RAY_SCHEDULER

    # -- Ray connection --------------------------------------------------------------------
    def _connect(self) -> Any:
        import ray

        if not ray.is_initialized():
            address = self.address or os.environ.get("RAY_ADDRESS") or None
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "ignore_reinit_error": True,
            }
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(num_cpus=os.cpu_count() or 1, **kwargs)
                log.info("started a local Ray instance for workflow steps")
            self._started_ray = True
        by_value: Any = ray.cloudpickle.register_pickle_by_value
        by_value(_ray_task)  # workers need Python, not Dockyard
        return ray.remote(_ray_task.run_step)

    async def _ensure(self) -> Any:
        if self._remote is None:
            if self._connecting is None:
                self._connecting = asyncio.Lock()
            async with self._connecting:
                if self._remote is None:
                    self._remote = await asyncio.to_thread(self._connect)
        return self._remote

    def shutdown(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        if self._started_ray:
            import ray

            with contextlib.suppress(Exception):
                ray.shutdown()
            self._started_ray = False
            self._remote = None

    # -- reconcile --------------------------------------------------------------------------
    async def reconcile(self, key: ObjectKey) -> Result | None:
        pod = self.store.try_get(POD, key.namespace, key.name)
        running = {uid for uid in self._tasks if not self._tasks[uid].done()}
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            live = {p["metadata"]["uid"] for p in self._pods()}
            for uid in running - live:
                self._cancel(uid)
            return None
        uid = pod["metadata"]["uid"]
        phase = (pod.get("status") or {}).get("phase") or "Pending"
        if phase in ("Succeeded", "Failed") or uid in running:
            return None
        if phase == "Running":  # its task was lost with a previous control plane
            self._finish(pod, None, "the Ray task was lost when the control plane restarted")
            return None
        self._tasks[uid] = asyncio.create_task(self._run(pod), name=f"ray:{key.name}")
        return None

    def _pods(self) -> list[dict[str, Any]]:
        pods, _ = self.store.list(POD)
        return [p for p in pods if (p.get("spec") or {}).get("schedulerName") == RAY_SCHEDULER]

    def _cancel(self, uid: str) -> None:
        ref = self._refs.pop(uid, None)
        if ref is not None:
            import ray

            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        task = self._tasks.pop(uid, None)
        if task is not None:
            task.cancel()

    async def _run(self, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        try:
            remote = await self._ensure()
            ref = remote.options(**task_options(pod)).remote(step_of(pod))
            self._refs[uid] = ref
            self._update(pod, lambda s: s.update(phase="Running", startTime=_now()))
            try:
                outcome = await ref
            except Exception as exc:  # the task failed in Ray itself (worker or node lost)
                self._finish(pod, None, f"Ray task failed: {type(exc).__name__}: {exc}")
                return
            self._finish(pod, outcome, None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("running Pod %s on Ray failed", pod["metadata"]["name"])
            self._finish(pod, None, f"cannot run on Ray: {exc}")
        finally:
            self._refs.pop(uid, None)
            self._tasks.pop(uid, None)

    # -- results ----------------------------------------------------------------------------
    def _finish(
        self, pod: dict[str, Any], outcome: dict[str, Any] | None, problem: str | None
    ) -> None:
        node = ""
        if outcome is not None:
            node = f"ray-{str(outcome.get('node') or 'local')[:12]}"
            self.nodes_used.add(node)
            self._write_files(pod, outcome)
        code = int(outcome["exitCode"]) if outcome is not None else None

        def change(status: dict[str, Any]) -> None:
            status["phase"] = "Succeeded" if code == 0 else "Failed"
            if outcome is not None and outcome.get("timedOut"):
                status["reason"] = "DeadlineExceeded"
                status["message"] = "Pod was active on the node longer than the specified deadline"
            elif problem:
                status["reason"] = "RayTaskError"
                status["message"] = problem
            if code is not None:
                status["containerStatuses"] = [
                    {
                        "name": "main",
                        "state": {"terminated": {"exitCode": code, "finishedAt": _now()}},
                    }
                ]
            if outcome is not None:
                status["hostIP"] = outcome.get("host", "")

        def edit(obj: dict[str, Any]) -> None:
            if node:
                obj["spec"]["nodeName"] = node
            change(obj.setdefault("status", {}))

        with contextlib.suppress(NotFoundError):
            self.store.mutate(
                POD, pod["metadata"].get("namespace") or "", pod["metadata"]["name"], edit
            )

    def _update(self, pod: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> None:
        def edit(obj: dict[str, Any]) -> None:
            change(obj.setdefault("status", {}))

        with contextlib.suppress(NotFoundError):
            self.store.mutate(
                POD, pod["metadata"].get("namespace") or "", pod["metadata"]["name"], edit
            )

    def _write_files(self, pod: dict[str, Any], outcome: dict[str, Any]) -> None:
        container = pod["spec"]["containers"][0]
        hosts = {v["name"]: Path(v["hostPath"]["path"]) for v in pod["spec"].get("volumes") or []}
        mounts = {
            m["mountPath"]: hosts[m["name"]]
            for m in container.get("volumeMounts") or []
            if m["name"] in hosts
        }
        argo = mounts.get("/argo")
        if argo is not None:
            (argo / "stdout").write_text(outcome.get("stdout") or "")
        for path, content in (outcome.get("files") or {}).items():
            if content is None:
                continue
            target = _host_path(mounts, path)
            if target is None:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        logs = pods_root(self.data_dir) / pod["metadata"]["uid"] / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        (logs / "main.log").write_text(
            (outcome.get("stdout") or "") + (outcome.get("stderr") or "")
        )


def _host_path(mounts: dict[str, Path], path: str) -> Path | None:
    for sandbox_path, host in mounts.items():
        if sandbox_path == "/argo":
            continue
        if path == sandbox_path:
            return host
        if path.startswith(sandbox_path.rstrip("/") + "/"):
            return host / path[len(sandbox_path.rstrip("/")) + 1 :]
    return None


def _now() -> str:
    return format_time(utc_now())
