"""The RoleBasedGroup controller: roles → Pods, in dependency order, with rolling updates.

Serving layer. Level-triggered: each reconcile reads the group and its Pods and converges
one step (decide with :func:`plan_role`, then apply). Contract:

* Pods are named ``<group>-<role>-<index>-<revision>``, owned by the group (cascade delete),
  labelled with group, role, index and revision (a hash of the role's template and engine
  runtimes; replica counts are not part of it, so scaling never restarts Pods).
* A role's Pods are created only once every role in its ``dependencies`` is ready (all
  replicas Running and, for engine roles, answering ``/health``).
* Scaling down and replacing Pods drains first: the Pod is annotated draining (the gateway
  stops sending it requests), and deleted once its engine reports no running or waiting
  request, or after the role's ``drainSeconds``. So a P:D ratio change drops no in-flight
  request.
* Rolling update: per index, a new-revision Pod is created while fewer than
  ``replicas + maxSurge`` Pods are live, else the old Pod is drained while fewer than
  ``maxUnavailable`` indices are unavailable; the old Pod of an index is drained once its
  replacement is ready. Indices below ``partition`` keep their revision. ``Recreate`` drains
  every old Pod first.
* Every engine Pod gets its own host port (``$(PORT)``, the ``serving.dockyard.dev/port``
  annotation), since engines share the node's network.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from dockyard._ports import free_port as _free_port
from dockyard.api.errors import AlreadyExistsError, ApiError, NotFoundError
from dockyard.api.labels import selector_from_match_labels
from dockyard.control import ObjectKey, Result
from dockyard.serving.engine._http import HttpClient
from dockyard.serving.gateway.monitor import parse_metrics
from dockyard.serving.groups.api import RBG_API_VERSION, Role, RoleBasedGroup, startup_order
from dockyard.serving.groups.runtimes import apply_runtime, engine_role
from dockyard.serving.labels import (
    DRAINING_ANNOTATION,
    ENGINE_ROLE_LABEL,
    GROUP_LABEL,
    INDEX_LABEL,
    PORT_ANNOTATION,
    REVISION_LABEL,
    ROLE_LABEL,
)
from dockyard.store import ObjectStore

log = logging.getLogger("dockyard.serving.groups")
POD = "v1/Pod"
MIN_DRAIN_SECONDS = 1.5  # > the gateway's discovery period, so it has stopped routing


def revision(role: Role) -> str:
    data = json.dumps(
        {
            "template": role.template.model_dump(by_alias=True, exclude_none=True, mode="json"),
            "runtimes": [
                r.model_dump(by_alias=True, exclude_none=True) for r in role.engine_runtimes or []
            ],
        },
        sort_keys=True,
    )
    return hashlib.sha256(data.encode()).hexdigest()[:8]


@dataclass
class PodView:
    """What planning needs to know about one Pod."""

    name: str
    index: int
    revision: str
    ready: bool
    draining: bool


@dataclass
class RolePlan:
    create: list[int] = field(default_factory=list)
    drain: list[str] = field(default_factory=list)


def plan_role(role: Role, rev: str, pods: list[PodView]) -> RolePlan:
    """One convergence step for a role (pure; see the module contract)."""
    plan = RolePlan()
    desired = role.replicas
    strategy = role.rollout_strategy
    rolling = strategy.rolling_update if strategy and strategy.rolling_update else None
    max_surge = rolling.max_surge if rolling else 0
    max_unavailable = rolling.max_unavailable if rolling else 1
    partition = rolling.partition if rolling else 0
    recreate = strategy is not None and strategy.type == "Recreate"
    live = [p for p in pods if not p.draining]
    for pod in live:
        if pod.index >= desired:
            plan.drain.append(pod.name)
    in_range = [p for p in live if p.index < desired]
    by_index: dict[int, list[PodView]] = {}
    for pod in in_range:
        by_index.setdefault(pod.index, []).append(pod)
    total = len(in_range)
    unavailable = sum(1 for i in range(desired) if not any(p.ready for p in by_index.get(i, [])))
    for i in range(desired):
        here = by_index.get(i, [])
        new = [p for p in here if p.revision == rev]
        old = [p for p in here if p.revision != rev]
        if not here:
            # A draining old Pod of this index may still be finishing; that's fine.
            plan.create.append(i)
            total += 1
            continue
        if i < partition:
            continue
        if new and old:
            if any(p.ready for p in new):
                plan.drain.extend(p.name for p in old)
            continue
        if old and not new:
            if recreate:
                plan.drain.extend(p.name for p in old)
            elif total < desired + max_surge:
                plan.create.append(i)
                total += 1
            elif unavailable < max_unavailable or not any(p.ready for p in old):
                plan.drain.extend(p.name for p in old)
                if any(p.ready for p in old):
                    unavailable += 1
    return plan


class RoleBasedGroupReconciler:
    def __init__(self, store: ObjectStore, client: HttpClient | None = None) -> None:
        self.store = store
        self.client = client or HttpClient(connect_timeout=0.5)

    async def reconcile(self, key: ObjectKey) -> Result | None:
        obj = self.store.try_get(key.kind_key, key.namespace, key.name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return None
        group = RoleBasedGroup.model_validate(obj)
        ns, name, uid = key.namespace, key.name, obj["metadata"]["uid"]
        pods, _ = self.store.list(POD, ns, selector_from_match_labels({GROUP_LABEL: name}))
        pods = [
            p
            for p in pods
            if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])
        ]
        by_role: dict[str, list[dict[str, Any]]] = {}
        for pod in pods:
            by_role.setdefault(pod["metadata"]["labels"].get(ROLE_LABEL, ""), []).append(pod)
        busy = False
        ready_roles: set[str] = set()
        statuses: list[dict[str, Any]] = []
        for role in startup_order(group.spec.roles):
            rev = revision(role)
            role_pods = by_role.pop(role.name, [])
            views = await asyncio.gather(*(self._view(p, role) for p in role_pods))
            ready = sum(1 for v in views if v.ready and not v.draining and v.index < role.replicas)
            updated = sum(
                1 for v in views if v.revision == rev and not v.draining and v.index < role.replicas
            )
            statuses.append(
                {
                    "name": role.name,
                    "replicas": sum(1 for v in views if not v.draining),
                    "readyReplicas": ready,
                    "updatedReplicas": updated,
                }
            )
            deps = role.dependencies or []
            if not all(d in ready_roles for d in deps):
                busy = True
                continue
            plan = plan_role(role, rev, list(views))
            for index in plan.create:
                self._create_pod(obj, role, rev, index)
            for pod_name in plan.drain:
                self._mark_draining(ns, pod_name)
            busy |= await self._finish_drains(ns, role, role_pods)
            if (
                ready == role.replicas
                and updated == role.replicas
                and not plan.create
                and not plan.drain
            ):
                ready_roles.add(role.name)
            else:
                busy = True
        for leftover in by_role.values():  # roles removed from the spec
            for pod in leftover:
                self._delete(ns, pod["metadata"]["name"])
        self._write_status(key, group, statuses, ready_roles)
        return Result(requeue_after=0.5) if busy else None

    async def _view(self, pod: dict[str, Any], role: Role) -> PodView:
        meta = pod["metadata"]
        labels = meta.get("labels") or {}
        annotations = meta.get("annotations") or {}
        running = pod.get("status", {}).get("phase") == "Running"
        ready = running
        if running and role.engine_runtimes and PORT_ANNOTATION in annotations:
            ready = await self._healthy(pod)
        return PodView(
            name=meta["name"],
            index=int(labels.get(INDEX_LABEL, "0")),
            revision=labels.get(REVISION_LABEL, ""),
            ready=ready,
            draining=DRAINING_ANNOTATION in annotations or bool(meta.get("deletionTimestamp")),
        )

    def _url(self, pod: dict[str, Any]) -> str:
        ip = pod.get("status", {}).get("podIP") or "127.0.0.1"
        return f"http://{ip}:{pod['metadata']['annotations'][PORT_ANNOTATION]}"

    async def _healthy(self, pod: dict[str, Any]) -> bool:
        try:
            response = await self.client.request("GET", self._url(pod) + "/health", timeout=0.5)
            await asyncio.wait_for(response.read(), 0.5)
            return response.status == 200
        except Exception:
            return False

    async def _idle(self, pod: dict[str, Any]) -> bool:
        try:
            response = await self.client.request("GET", self._url(pod) + "/metrics", timeout=0.5)
            text = (await asyncio.wait_for(response.read(), 0.5)).decode()
        except Exception:
            return True  # nothing answers: nothing to wait for
        scraped = parse_metrics(text, 0.0)
        return scraped.running + scraped.waiting == 0

    def _create_pod(self, group: dict[str, Any], role: Role, rev: str, index: int) -> None:
        meta = group["metadata"]
        template = role.template.model_dump(by_alias=True, exclude_none=True, mode="json")
        tmeta = template.get("metadata") or {}
        spec = copy.deepcopy(template["spec"])
        labels = dict(tmeta.get("labels") or {})
        labels.update(
            {
                GROUP_LABEL: meta["name"],
                ROLE_LABEL: role.name,
                INDEX_LABEL: str(index),
                REVISION_LABEL: rev,
            }
        )
        annotations = dict(tmeta.get("annotations") or {})
        if role.restart_policy in ("Always", "OnFailure", "Never"):
            spec["restartPolicy"] = role.restart_policy
        if role.engine_runtimes:
            port = _free_port()
            container = spec["containers"][0]
            apply_runtime(role, container)
            env = [e for e in container.get("env") or [] if e.get("name") != "PORT"]
            container["env"] = [{"name": "PORT", "value": str(port)}, *env]
            container["ports"] = [{"name": "http", "containerPort": port}]
            spec["hostNetwork"] = True
            annotations[PORT_ANNOTATION] = str(port)
            labels[ENGINE_ROLE_LABEL] = engine_role(role, role.engine_runtimes[0])
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{meta['name']}-{role.name}-{index}-{rev[:5]}",
                "namespace": meta.get("namespace", "default"),
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [
                    {
                        "apiVersion": RBG_API_VERSION,
                        "kind": "RoleBasedGroup",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": spec,
        }
        with contextlib.suppress(AlreadyExistsError):
            self.store.create(POD, pod)

    def _mark_draining(self, ns: str, name: str) -> None:
        def change(pod: dict[str, Any]) -> None:
            annotations = pod["metadata"].setdefault("annotations", {})
            annotations.setdefault(DRAINING_ANNOTATION, f"{time.time():.3f}")

        with contextlib.suppress(NotFoundError):
            self.store.mutate(POD, ns, name, change)

    async def _finish_drains(self, ns: str, role: Role, pods: list[dict[str, Any]]) -> bool:
        """Delete drained Pods; True while some are still draining."""
        pending = False
        now = time.time()
        for pod in pods:
            meta = pod["metadata"]
            since = (meta.get("annotations") or {}).get(DRAINING_ANNOTATION)
            if since is None or meta.get("deletionTimestamp"):
                continue
            age = now - float(since)
            engine = bool(role.engine_runtimes) and pod.get("status", {}).get("phase") == "Running"
            if (
                not engine
                or age >= role.drain_seconds
                or (age >= MIN_DRAIN_SECONDS and await self._idle(pod))
            ):
                self._delete(ns, meta["name"])
            else:
                pending = True
        return pending

    def _delete(self, ns: str, name: str) -> None:
        with contextlib.suppress(NotFoundError):
            self.store.delete(POD, ns, name)

    def _write_status(
        self,
        key: ObjectKey,
        group: RoleBasedGroup,
        roles: list[dict[str, Any]],
        ready_roles: set[str],
    ) -> None:
        all_ready = len(ready_roles) == len(group.spec.roles)

        def change(obj: dict[str, Any]) -> None:
            status = obj.setdefault("status", {})
            status["observedGeneration"] = obj["metadata"].get("generation")
            status["roles"] = roles
            previous = {c.get("type"): c for c in status.get("conditions") or []}.get("Ready", {})
            value = "True" if all_ready else "False"
            if previous.get("status") != value:
                status["conditions"] = [
                    {
                        "type": "Ready",
                        "status": value,
                        "reason": "AllRolesReady" if all_ready else "RolesProgressing",
                        "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    }
                ]

        with contextlib.suppress(NotFoundError, ApiError):
            self.store.mutate(key.kind_key, key.namespace, key.name, change)
