"""The Workflow controller: admission queue, one operator pass per reconcile, pod GC, TTL.

Workflows layer. Reconciles ``argoproj.io/v1alpha1/Workflow`` and is woken by its Pods.

* **Queue.** With a controller-wide ``parallelism`` limit, workflows beyond it wait —
  reporting ``Running`` (so Hera keeps waiting) with a message — and are admitted by
  ``spec.priority`` (higher first), then creation time.
* **Operate.** :class:`WorkflowOperator` computes the new status; it is written back in the
  same synchronous stretch as the read, so API writes (which run on the same event loop)
  never interleave with it.
* **Wake-ups.** A pass converges: its own status write does not wake the workflow again
  (the event with the resourceVersion just written is dropped), and a Pod only wakes its
  workflow when its phase changes or it goes away. When a pass leaves work that another
  pass could pick up at once (a step held back by ``parallelism``, a steps or DAG node
  finished mid-walk), it requeues itself instead.
* **After.** ``podGC`` deletes finished Pods, ``ttlStrategy`` deletes finished workflows,
  and each Pod's step directory goes with its Pod.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dockyard.api.errors import AlreadyExistsError, ApiError, ConflictError, NotFoundError
from dockyard.control import Clock, ObjectKey, Result, SystemClock
from dockyard.store import ObjectStore, StoreEvent
from dockyard.workflows._compressed import FIELD as COMPRESSED_NODES
from dockyard.workflows._compressed import inflate, pack_status
from dockyard.workflows._kinds import WORKFLOW
from dockyard.workflows._memo import MemoCache
from dockyard.workflows._nodes import FULFILLED, SUCCEEDED, pod_name
from dockyard.workflows._operator import WorkflowOperator, parse_time
from dockyard.workflows._pods import StepFiles, remove_workflow_files
from dockyard.workflows._simulated import route_to_simulator
from dockyard.workflows._sync import SyncManager

log = logging.getLogger("dockyard.workflows")
POD = "v1/Pod"
_IN_FLIGHT = ("Pending", "Running")
COSTLY_PASS_SECONDS = 0.02
QUEUED_MESSAGE = "Workflow is queued: the controller's parallelism limit is reached"


@dataclass
class ControllerConfig:
    """Controller-wide settings (Argo's workflow-controller ConfigMap)."""

    parallelism: int | None = None
    semaphores: dict[str, int] = field(default_factory=dict)
    ray_address: str | None = None
    executor: str = "pods"  # "simulated": steps finish at once (see ._simulated)


class _StoreEnv:
    """OperatorEnv over the object store."""

    def __init__(self, reconciler: WorkflowReconciler) -> None:
        self.r = reconciler

    def now(self) -> datetime:
        return self.r.clock.now()

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Pod, or — while it is known to be Pending or Running — a stub with just its
        phase and node: any later change reaches the cache first and wakes the workflow
        again, so a large fan-out pass does not read every Pod still in flight."""
        known = self.r.pod_phases.get((namespace, name))
        if known in _IN_FLIGHT:
            host = self.r.pod_hosts.get((namespace, name))
            return {"spec": {"nodeName": host} if host else {}, "status": {"phase": known}}
        return self.r.store.try_get(POD, namespace, name)

    def create_pod(self, pod: dict[str, Any]) -> None:
        if self.r.config.executor == "simulated":
            pod = route_to_simulator(pod)
        with contextlib.suppress(AlreadyExistsError):
            created = self.r.store.create(POD, pod)
            meta = created["metadata"]
            self.r.pod_phases[(meta.get("namespace") or "", meta["name"])] = _pod_phase(created)

    def delete_pod(self, namespace: str, name: str) -> None:
        with contextlib.suppress(NotFoundError):
            self.r.store.delete(POD, namespace, name)

    def lookup(self, kind_key: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.r.store.try_get(kind_key, namespace, name)

    @property
    def files_root(self) -> Path:
        return self.r.files_root

    @property
    def sync(self) -> SyncManager:
        return self.r.sync

    @property
    def memo(self) -> MemoCache:
        return self.r.memo


class WorkflowReconciler:
    def __init__(
        self,
        store: ObjectStore,
        files_root: Path,
        *,
        config: ControllerConfig | None = None,
        memo_dir: Path | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.files_root = files_root
        self.config = config or ControllerConfig()
        self.clock = clock or SystemClock()
        self.sync = SyncManager(self.config.semaphores, wake=self._wake_owner)
        self.memo = MemoCache(memo_dir)
        self.env = _StoreEnv(self)
        self.enqueue: Any = None  # set by the extension: Controller.enqueue
        self._admitted: set[ObjectKey] = set()
        self._waiting: dict[ObjectKey, tuple[int, float, str]] = {}
        self._uids: dict[ObjectKey, str] = {}
        self._written: dict[ObjectKey, int] = {}
        self._not_before: dict[ObjectKey, float] = {}
        self.pod_phases: dict[tuple[str, str], str] = {}
        self.pod_hosts: dict[tuple[str, str], str] = {}
        self.finished_count = 0
        self.peak_waiting = 0

    def stats(self) -> dict[str, int]:
        """Queue figures: workflows admitted and waiting now, finished since start, and the
        most that ever waited at once."""
        return {
            "admitted": len(self._admitted),
            "waiting": len(self._waiting),
            "finished": self.finished_count,
            "peakWaiting": self.peak_waiting,
        }

    # -- event filters -----------------------------------------------------------------
    def workflow_event_matters(self, event: StoreEvent) -> bool:
        """Drop the event of this controller's own status write: the pass that wrote it
        already acted on everything it saw."""
        key = ObjectKey(WORKFLOW, event.namespace, event.name)
        if event.type == "DELETED":
            self._written.pop(key, None)
            return True
        if event.type == "MODIFIED" and self._written.get(key) == event.rv:
            del self._written[key]
            return False
        return True

    def pod_event_matters(self, event: StoreEvent) -> bool:
        """A workflow's Pod wakes it when its phase changes or it is deleted."""
        refs = event.object.get("metadata", {}).get("ownerReferences") or []
        if not any(r.get("kind") == "Workflow" for r in refs):
            return False
        pod = (event.namespace, event.name)
        if event.type == "DELETED":
            self.pod_phases.pop(pod, None)
            self.pod_hosts.pop(pod, None)
            return True
        phase = _pod_phase(event.object)
        # The node is kept even when only it changed (binding wakes nobody): get_pod's
        # stub then says what the store says.
        host = (event.object.get("spec") or {}).get("nodeName")
        if host and phase in _IN_FLIGHT:
            self.pod_hosts[pod] = host
        else:
            self.pod_hosts.pop(pod, None)
        if self.pod_phases.get(pod) == phase:
            return False
        self.pod_phases[pod] = phase
        return True

    # -- queue -------------------------------------------------------------------------
    def _wake_owner(self, owner: str) -> None:
        namespace, _, name = owner.partition("/")
        self._wake(ObjectKey(WORKFLOW, namespace, name))

    def _wake(self, key: ObjectKey) -> None:
        if self.enqueue is not None:
            self.enqueue(key)

    def _admit(self, key: ObjectKey, workflow: dict[str, Any]) -> bool:
        limit = self.config.parallelism
        if not limit or key in self._admitted:
            self._admitted.add(key)
            return True
        status = workflow.get("status") or {}
        # Already running before a restart (its nodes may be stored compressed): keep it.
        if status.get("nodes") or status.get(COMPRESSED_NODES):
            self._admitted.add(key)
            return True
        priority = int((workflow["spec"].get("priority")) or 0)
        created = workflow["metadata"].get("creationTimestamp") or ""
        self._waiting[key] = (-priority, _timestamp(created), key.name)
        self.peak_waiting = max(self.peak_waiting, len(self._waiting))
        free = limit - len(self._admitted)
        if free <= 0:
            return False
        best = heapq.nsmallest(free, self._waiting.items(), key=lambda kv: kv[1])
        if key in {k for k, _ in best}:
            self._waiting.pop(key, None)
            self._admitted.add(key)
            return True
        for other, _ in best:
            self._wake(other)
        return False

    def _release(self, key: ObjectKey) -> None:
        self._waiting.pop(key, None)
        if key in self._admitted:
            self._admitted.discard(key)
            limit = self.config.parallelism
            if limit:
                free = limit - len(self._admitted)
                for other, _ in heapq.nsmallest(
                    max(free, 0), self._waiting.items(), key=lambda kv: kv[1]
                ):
                    self._wake(other)
        self.sync.release_owner(f"{key.namespace}/{key.name}")

    # -- reconcile ---------------------------------------------------------------------
    async def reconcile(self, key: ObjectKey) -> Result | None:
        wait = self._not_before.get(key, 0.0) - self.clock.monotonic()
        if wait > 0:  # the last pass was costly: let more changes gather first
            return Result(requeue_after=wait)
        workflow = self.store.try_get(WORKFLOW, key.namespace, key.name)
        if workflow is None:
            self._not_before.pop(key, None)
            self._release(key)
            uid = self._uids.pop(key, None)
            if uid:
                remove_workflow_files(self.files_root, uid)
            return None
        uid = workflow["metadata"].get("uid", "")
        self._uids[key] = uid
        status = workflow.get("status") or {}
        if status.get("finishedAt"):
            self._release(key)
            return self._after_completion(key, workflow)
        if not self._admit(key, workflow):
            self._write(
                key, workflow, {**status, "phase": "Running", "message": QUEUED_MESSAGE}, {}
            )
            return None
        started = self.clock.monotonic()
        workflow = inflate(workflow)
        status = workflow.get("status") or {}
        before = {nid: n.get("phase") for nid, n in (status.get("nodes") or {}).items()}
        result = WorkflowOperator(workflow, self.env).operate()
        try:
            changed = self._write(key, workflow, result.status, result.labels)
        except ConflictError:  # written meanwhile (outside the event loop): look again
            return Result(requeue_after=0.01)
        cost = self.clock.monotonic() - started
        if cost > COSTLY_PASS_SECONDS:
            # Wait as long as the pass took before the next one: a workflow with
            # thousands of nodes then takes at most half the controller's time, and each
            # of its passes takes in every Pod that finished meanwhile.
            self._not_before[key] = started + 2 * cost
        else:
            self._not_before.pop(key, None)
        self._pod_gc(workflow, before, result.status)
        if result.finished:
            self._not_before.pop(key, None)
            self.finished_count += 1
            self._release(key)
            return self._after_completion(key, {**workflow, "status": result.status})
        wake = result.requeue_after
        if changed and result.again:
            wake = 0.0 if wake is None else min(wake, 0.0)
        if wake is not None:
            return Result(requeue_after=max(0.01, wake))
        return None

    def _write(
        self,
        key: ObjectKey,
        workflow: dict[str, Any],
        status: dict[str, Any],
        labels: dict[str, str],
    ) -> bool:
        """Write ``status`` and ``labels`` back if they changed; True when they did. The
        object was read in the same synchronous stretch, so its resourceVersion guards the
        write (a conflict means something outside the event loop wrote it meanwhile)."""
        current_labels = workflow["metadata"].get("labels") or {}
        merged_labels = {**current_labels, **labels}
        completed = status.get("phase") in ("Succeeded", "Failed", "Error") and status.get(
            "finishedAt"
        )
        merged_labels["workflows.argoproj.io/phase"] = str(status.get("phase") or "Running")
        if completed:
            merged_labels["workflows.argoproj.io/completed"] = "true"
        if status == workflow.get("status") and merged_labels == current_labels:
            return False
        updated = {
            **workflow,
            "metadata": {**workflow["metadata"], "labels": merged_labels},
            "status": pack_status(status),
        }
        try:
            stored = self.store.update(WORKFLOW, updated)
        except NotFoundError:
            return False
        self._written[key] = int(stored["metadata"]["resourceVersion"])
        return True

    # -- garbage collection ------------------------------------------------------------
    def _pod_gc(
        self, workflow: dict[str, Any], before: dict[str, Any], status: dict[str, Any]
    ) -> None:
        strategy = ((workflow["spec"].get("podGC") or {}).get("strategy")) or ""
        if not strategy:
            return
        finished = bool(status.get("finishedAt"))
        succeeded = status.get("phase") == SUCCEEDED
        name = workflow["metadata"]["name"]
        namespace = workflow["metadata"].get("namespace") or "default"
        for node_id, node in (status.get("nodes") or {}).items():
            if node.get("type") != "Pod" or node.get("phase") not in FULFILLED:
                continue
            newly = before.get(node_id) not in FULFILLED
            delete = (
                (strategy == "OnPodCompletion" and newly)
                or (strategy == "OnPodSuccess" and newly and node["phase"] == SUCCEEDED)
                or (strategy == "OnWorkflowCompletion" and finished)
                or (strategy == "OnWorkflowSuccess" and finished and succeeded)
            )
            if delete:
                pod = pod_name(name, node.get("templateName", ""), node["name"])
                with contextlib.suppress(ApiError):
                    self.store.delete(POD, namespace, pod)
                StepFiles(self.files_root, workflow["metadata"].get("uid", ""), pod).remove()

    def _after_completion(self, key: ObjectKey, workflow: dict[str, Any]) -> Result | None:
        ttl = workflow["spec"].get("ttlStrategy") or {}
        status = workflow.get("status") or {}
        seconds = ttl.get("secondsAfterCompletion")
        if status.get("phase") == SUCCEEDED and ttl.get("secondsAfterSuccess") is not None:
            seconds = ttl["secondsAfterSuccess"]
        elif (
            status.get("phase") in ("Failed", "Error")
            and ttl.get("secondsAfterFailure") is not None
        ):
            seconds = ttl["secondsAfterFailure"]
        if seconds is None or not status.get("finishedAt"):
            return None
        elapsed = (self.clock.now() - parse_time(status["finishedAt"])).total_seconds()
        if elapsed < float(seconds):
            return Result(requeue_after=float(seconds) - elapsed)
        with contextlib.suppress(NotFoundError):
            self.store.delete(WORKFLOW, key.namespace, key.name)
        return None

    def sweep_files(self) -> None:
        """Remove step directories of workflows that no longer exist (after a restart)."""
        if not self.files_root.exists():
            return
        workflows, _ = self.store.list(WORKFLOW)
        live = {w["metadata"].get("uid") for w in workflows}
        for entry in self.files_root.iterdir():
            if entry.is_dir() and entry.name not in live:
                remove_workflow_files(self.files_root, entry.name)


def _pod_phase(pod: dict[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def _timestamp(text: str) -> float:
    try:
        return parse_time(text).timestamp()
    except ValueError:
        return 0.0
