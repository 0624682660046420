"""The node agent: runs the Pods bound to this machine's Nodes as sandboxes.

It registers the Nodes (and heartbeats their Ready condition), then reconciles every Pod
bound to one of them:

* Pending → start a sandbox, report Running.
* Running → mirror container states into the Pod; when the sandbox finishes, report
  Succeeded or Failed. Exits are noticed through a pidfd, container restarts by polling.
* ``activeDeadlineSeconds`` exceeded → kill, Failed/DeadlineExceeded.
* Deleted → kill the sandbox and remove its state directory.

Starting, stopping and cleaning up a sandbox wait on the host filesystem and the kernel
(directories, cgroups, process creation), so they run in worker threads and the event loop
serves the API and the other controllers meanwhile; store writes stay on the loop.

Sandboxes outlive the control plane. After a restart a Running Pod whose sandbox is still
alive is re-adopted; one whose sandbox finished while we were down gets its final status
from the sandbox's files; one whose sandbox vanished is handled by its restartPolicy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from dockyard.api.conditions import set_condition
from dockyard.api.core import POD_TERMINAL_PHASES
from dockyard.api.errors import ApiError
from dockyard.control import Clock, Controller, Manager, ObjectKey, Result, SystemClock
from dockyard.node.paths import pods_root
from dockyard.node.podstatus import apply_sandbox_status, summarize_exit
from dockyard.node.registration import NodeConfig
from dockyard.node.sandbox import (
    PodSandbox,
    PodSandboxSpec,
    SandboxError,
    UnknownImageError,
    cgroup_driver,
)
from dockyard.node.sandbox._final import read_final_status
from dockyard.node.translate import sandbox_spec_for
from dockyard.store import ObjectStore, StoreEvent, format_time

log = logging.getLogger("dockyard.node")
POD = "v1/Pod"
NODE = "v1/Node"
TERMINAL = POD_TERMINAL_PHASES
RUNNING_POLL_SECONDS = 1.0


class NodeAgent:
    """One agent serves all Nodes of this machine (the real one and the virtual ones)."""

    def __init__(
        self,
        store: ObjectStore,
        data_dir: Path,
        nodes: list[NodeConfig],
        *,
        heartbeat_seconds: float = 10.0,
        clock: Clock | None = None,
        stop_grace_seconds: float = 2.0,
    ) -> None:
        self.store = store
        self.pods_dir = pods_root(Path(data_dir))
        self.pods_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.pods_dir, 0o755)
        self.nodes = {n.name: n for n in nodes}
        self.clock = clock or SystemClock()
        self._heartbeat = heartbeat_seconds
        self._grace = stop_grace_seconds
        self._sandboxes: dict[ObjectKey, tuple[str, PodSandbox]] = {}
        self._readers: dict[int, ObjectKey] = {}
        # Sandbox starts running in worker threads, by the Pod they are for.
        self._spawning: dict[asyncio.Future[PodSandbox], ObjectKey] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.controller = Controller(
            name="node-agent",
            reconciler=self,
            for_kind=POD,
            workers=4,
            event_filter=self._is_ours,
        )
        self.started_count = 0

    # -- lifecycle ---------------------------------------------------------------------
    def register_nodes(self) -> None:
        now = self._now()
        for config in self.nodes.values():
            wanted = config.to_object(now)
            current = self.store.try_get(NODE, "", config.name)
            if current is None:
                self.store.create(NODE, wanted)
            else:
                current["metadata"]["labels"] = {
                    **(current["metadata"].get("labels") or {}),
                    **wanted["metadata"]["labels"],
                }
                current["status"] = wanted["status"]
                self.store.update(NODE, current)

    async def start(self, manager: Manager) -> None:
        cgroup_driver()  # detected once here, not raced by the first starts in threads
        self.register_nodes()
        self._remove_orphans()
        manager.add(self.controller)
        self._tasks.append(asyncio.create_task(self._heartbeat_loop(), name="node:heartbeat"))

    async def stop(self) -> None:
        """Stop every sandbox (the control plane is shutting down). Pods that would not be
        restarted are marked Failed/NodeShutdown; the others restart on the next start."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        loop = asyncio.get_running_loop()
        for fd in list(self._readers):
            loop.remove_reader(fd)
            os.close(fd)
        self._readers.clear()
        # Starts still in flight when the workers stopped: their sandboxes stop like the rest.
        for future, key in list(self._spawning.items()):
            with contextlib.suppress(Exception):
                self._sandboxes.setdefault(key, ("", await future))
        self._spawning.clear()
        sandboxes = list(self._sandboxes.items())
        await asyncio.gather(
            *(asyncio.to_thread(sandbox.kill, self._grace) for _, (_, sandbox) in sandboxes),
            return_exceptions=True,
        )
        for key, (_, sandbox) in sandboxes:
            sandbox.cleanup()
            self._mark_shutdown(key)
        self._sandboxes.clear()
        self._set_nodes_ready("False", "NodeAgentStopped", "Dockyard node agent stopped")

    def _mark_shutdown(self, key: ObjectKey) -> None:
        def change(pod: dict[str, Any]) -> None:
            if (
                pod["spec"].get("restartPolicy", "Always") == "Never"
                and pod["status"].get("phase") not in TERMINAL
            ):
                pod["status"]["phase"] = "Failed"
                pod["status"]["reason"] = "NodeShutdown"
                pod["status"]["message"] = "the Dockyard control plane stopped and stopped this Pod"
                pod["status"]["finishTime"] = self._now()

        with contextlib.suppress(ApiError):
            self.store.mutate(POD, key.namespace, key.name, change)

    # -- reconcile ---------------------------------------------------------------------
    def _is_ours(self, event: StoreEvent) -> bool:
        node = (event.object.get("spec") or {}).get("nodeName")
        return node in self.nodes or (event.type == "DELETED" and self._has_sandbox(event))

    def _has_sandbox(self, event: StoreEvent) -> bool:
        return ObjectKey(POD, event.namespace, event.name) in self._sandboxes

    async def reconcile(self, key: ObjectKey) -> Result | None:
        pod = self.store.try_get(POD, key.namespace, key.name)
        known = self._sandboxes.get(key)
        if known is not None and (pod is None or pod["metadata"]["uid"] != known[0]):
            await self._discard(key, remove_state=True)
            known = None
        if pod is None or pod["spec"].get("nodeName") not in self.nodes:
            return None
        status = pod.get("status") or {}
        if status.get("phase") in TERMINAL:
            if known is not None:
                await self._discard(key, remove_state=False)
            return None
        if pod["metadata"].get("deletionTimestamp"):
            await self._discard(key, remove_state=False)
            return None
        sandbox = known[1] if known else None
        if sandbox is None:
            sandbox = await self._recover_or_start(key, pod)
            if sandbox is None:
                return None
        return await self._sync_status(key, pod, sandbox)

    def _state_dir(self, pod: dict[str, Any]) -> Path:
        return self.pods_dir / str(pod["metadata"]["uid"])

    async def _recover_or_start(self, key: ObjectKey, pod: dict[str, Any]) -> PodSandbox | None:
        state_dir = self._state_dir(pod)
        phase = (pod.get("status") or {}).get("phase", "Pending")
        if state_dir.exists():
            adopted = PodSandbox.adopt(state_dir)
            if adopted is not None:
                log.info("re-adopted running sandbox of pod %s", key)
                self._track(key, pod, adopted)
                return adopted
            if phase == "Running":
                return await self._handle_lost(key, pod, state_dir)
        return await self._start(key, pod)

    async def _handle_lost(
        self, key: ObjectKey, pod: dict[str, Any], state_dir: Path
    ) -> PodSandbox | None:
        """The sandbox is gone: it finished while we were down, or it was killed."""
        recorded = read_final_status(state_dir)
        if recorded is not None and recorded[1]:
            self._write_final(key, pod, recorded[0])
            return None
        if pod["spec"].get("restartPolicy", "Always") == "Never":
            self._fail(
                key, "SandboxLost", "the Pod's sandbox exited while the control plane was down"
            )
            return None
        log.info("restarting lost sandbox of pod %s per its restartPolicy", key)
        return await self._start(key, pod)

    async def _start(self, key: ObjectKey, pod: dict[str, Any]) -> PodSandbox | None:
        state_dir = self._state_dir(pod)
        try:
            node = self.nodes[pod["spec"]["nodeName"]]
            real_gpus = bool(node.gpus) and not node.virtual
            sandbox = await self._spawn(key, sandbox_spec_for(pod, state_dir, real_gpus))
        except UnknownImageError as exc:
            self._fail(key, "InvalidImageName", str(exc))
            return None
        except (SandboxError, OSError) as exc:
            log.exception("starting sandbox of pod %s failed", key)
            self._fail(key, "SandboxStartFailed", str(exc))
            return None
        self.started_count += 1
        self._track(key, pod, sandbox)
        return sandbox

    async def _spawn(self, key: ObjectKey, spec: PodSandboxSpec) -> PodSandbox:
        """`PodSandbox.start` in a worker thread. Should the agent be stopped meanwhile, the
        start stays in `_spawning` so that `stop()` stops its sandbox too."""
        future = asyncio.get_running_loop().run_in_executor(None, PodSandbox.start, spec)
        self._spawning[future] = key
        try:
            return await asyncio.shield(future)
        finally:
            if future.done():
                self._spawning.pop(future, None)

    def _track(self, key: ObjectKey, pod: dict[str, Any], sandbox: PodSandbox) -> None:
        self._sandboxes[key] = (pod["metadata"]["uid"], sandbox)
        fd = sandbox.pidfd()
        if fd is None:
            return
        loop = asyncio.get_running_loop()

        def exited() -> None:
            loop.remove_reader(fd)
            self._readers.pop(fd, None)
            os.close(fd)
            self.controller.enqueue(key)

        self._readers[fd] = key
        loop.add_reader(fd, exited)

    async def _sync_status(
        self, key: ObjectKey, pod: dict[str, Any], sandbox: PodSandbox
    ) -> Result | None:
        deadline = pod["spec"].get("activeDeadlineSeconds")
        start = (pod.get("status") or {}).get("startTime")
        if deadline and start and self._elapsed_since(start) > float(deadline):
            self._sandboxes.pop(key, None)
            await asyncio.to_thread(sandbox.kill, self._grace)
            self._fail(
                key, "DeadlineExceeded", f"Pod was active on the node longer than {deadline}s"
            )
            return None
        # status() samples liveness before reading the records, so a supervisor that has
        # just exited is reported finished with whatever it recorded.
        sandbox_status = sandbox.status()
        if sandbox_status.finished:
            self._write_final(key, pod, sandbox_status)
            if not sandbox.alive():
                self._sandboxes.pop(key, None)
                await asyncio.to_thread(sandbox.cleanup)
            # else: the supervisor is exiting; its pidfd wakes us to clean up.
            return None

        now = self._now()

        def change(obj: dict[str, Any]) -> None:
            if (
                obj["metadata"]["uid"] != pod["metadata"]["uid"]
                or obj["status"].get("phase") in TERMINAL
            ):
                return
            apply_sandbox_status(obj, sandbox_status)
            status = obj["status"]
            if "startTime" not in status:  # the first report after the sandbox started
                status["startTime"] = now
                status["hostIP"] = status["podIP"] = "127.0.0.1"
                set_condition(obj, "Initialized", "True", now)
                set_condition(obj, "Ready", "True", now)
                set_condition(obj, "ContainersReady", "True", now)

        with contextlib.suppress(ApiError):
            self.store.mutate(POD, key.namespace, key.name, change)
        poll = RUNNING_POLL_SECONDS
        if deadline and start:
            poll = min(poll, max(0.05, float(deadline) - self._elapsed_since(start)))
        return Result(requeue_after=poll)

    def _write_final(self, key: ObjectKey, pod: dict[str, Any], sandbox_status: Any) -> None:
        now = self._now()
        uid = pod["metadata"]["uid"]

        def change(obj: dict[str, Any]) -> None:
            if obj["metadata"]["uid"] != uid or obj["status"].get("phase") in TERMINAL:
                return
            if not sandbox_status.finished:
                sandbox_status.finished = True
                sandbox_status.message = (
                    sandbox_status.message or "the Pod's sandbox exited unexpectedly"
                )
            apply_sandbox_status(obj, sandbox_status)
            status = obj["status"]
            status.setdefault("startTime", now)
            status["finishTime"] = now
            if status["phase"] == "Failed" and "message" not in status:
                summary = summarize_exit(sandbox_status)
                if summary:
                    status["message"] = summary
            set_condition(obj, "Ready", "False", now, "PodCompleted")
            set_condition(obj, "ContainersReady", "False", now, "PodCompleted")

        with contextlib.suppress(ApiError):
            self.store.mutate(POD, key.namespace, key.name, change)

    def _fail(self, key: ObjectKey, reason: str, message: str) -> None:
        now = self._now()

        def change(obj: dict[str, Any]) -> None:
            status = obj.setdefault("status", {})
            status["phase"] = "Failed"
            status["reason"] = reason
            status["message"] = message
            status["finishTime"] = now
            set_condition(obj, "Ready", "False", now, reason)

        with contextlib.suppress(ApiError):
            self.store.mutate(POD, key.namespace, key.name, change)

    async def _discard(self, key: ObjectKey, remove_state: bool) -> None:
        entry = self._sandboxes.pop(key, None)
        if entry is None:
            return
        _, sandbox = entry
        await asyncio.to_thread(self._remove, sandbox, remove_state)

    def _remove(self, sandbox: PodSandbox, remove_state: bool) -> None:
        sandbox.kill(self._grace)  # kill() ends with cleanup()
        if remove_state:
            shutil.rmtree(sandbox.state_dir, ignore_errors=True)

    # -- housekeeping ------------------------------------------------------------------
    def _remove_orphans(self) -> None:
        """Kill sandboxes and remove state of Pods that no longer exist."""
        pods, _ = self.store.list(POD)
        live = {p["metadata"]["uid"] for p in pods}
        for state_dir in self.pods_dir.iterdir():
            if state_dir.name in live or not state_dir.is_dir():
                continue
            sandbox = PodSandbox.adopt(state_dir)
            if sandbox is not None:
                sandbox.kill(self._grace)
                sandbox.cleanup()
            shutil.rmtree(state_dir, ignore_errors=True)

    async def _heartbeat_loop(self) -> None:
        while True:
            await self.clock.sleep(self._heartbeat)
            self._set_nodes_ready(
                "True", "NodeAgentReady", "Dockyard node agent is posting ready status"
            )

    def _set_nodes_ready(self, status: str, reason: str, message: str) -> None:
        now = self._now()
        for name in self.nodes:

            def change(node: dict[str, Any]) -> None:
                set_condition(node, "Ready", status, now, reason, message)
                for condition in node["status"]["conditions"]:
                    if condition["type"] == "Ready":
                        condition["lastHeartbeatTime"] = now

            with contextlib.suppress(ApiError):
                self.store.mutate(NODE, "", name, change)

    def log_path(self, pod: dict[str, Any], container: str) -> Path:
        return self._state_dir(pod) / "logs" / f"{container}.log"

    def _now(self) -> str:
        return format_time(self.clock.now())

    def _elapsed_since(self, timestamp: str) -> float:
        started = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S%z")
        return (self.clock.now() - started).total_seconds()
