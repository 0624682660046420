"""Where the gateway's endpoints come from: a static list, or an InferencePool's Pods.

Serving layer. A discovery function returns ``{url: role}``; the monitor calls it every
second and syncs the endpoint set. :func:`pool_discovery` reads the Dockyard API over HTTP
(the gateway may run outside the control plane's process): the InferencePool's
``selector`` picks Running Pods, each served at ``http://<podIP>:<port>`` where the port is
the Pod's ``serving.dockyard.dev/port`` annotation (set by the RoleBasedGroup controller,
which gives every engine on a host-network node its own port) or else the pool's
``targetPortNumber``. The role comes from the Pod's ``serving.dockyard.dev/engine-role``
label (``both`` when absent). Pods marked draining are left out, so scaling down or a rolling
update stops new traffic to a Pod before the controller deletes it.

:class:`PoolWatch` keeps the same answer current without polling: it lists the pool's Pods,
then watches them from the list's ``resourceVersion`` (Kubernetes watch semantics, one JSON
event per line) and hands the gateway a new endpoint set on every change; when the watch
ends (``timeoutSeconds``, a dropped connection, an expired resourceVersion) it lists again,
which also picks up an edited pool ``selector`` or port.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

from dockyard.serving.engine._http import HttpClient
from dockyard.serving.gateway.endpoints import EngineRole
from dockyard.serving.labels import DRAINING_ANNOTATION, ENGINE_ROLE_LABEL, PORT_ANNOTATION

POOL_PATH = "/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/{ns}/inferencepools/{name}"
PODS_PATH = "/api/v1/namespaces/{ns}/pods"

log = logging.getLogger("dockyard.serving.gateway")

Apply = Callable[[dict[str, EngineRole]], None]


@runtime_checkable
class WatchedDiscovery(Protocol):
    """A discovery that pushes changes: awaiting it gives the current set (used at start);
    :meth:`run` calls ``apply`` with every new set until cancelled. The gateway's monitor
    starts ``run`` instead of polling any discovery that has it."""

    async def __call__(self) -> dict[str, EngineRole]: ...

    async def run(self, apply: Apply) -> None: ...


def static_discovery(
    urls: list[str], roles: dict[str, EngineRole] | None = None
) -> Callable[[], Awaitable[dict[str, EngineRole]]]:
    wanted: dict[str, EngineRole] = {u.rstrip("/"): "both" for u in urls}
    for url, role in (roles or {}).items():
        wanted[url.rstrip("/")] = role

    async def discover() -> dict[str, EngineRole]:
        return dict(wanted)

    return discover


def endpoints_of(pool: dict[str, Any], pods: list[dict[str, Any]]) -> dict[str, EngineRole]:
    """The pool's endpoints among ``pods`` (already filtered by its selector)."""
    target = int(pool.get("spec", {}).get("targetPortNumber") or 8000)
    out: dict[str, EngineRole] = {}
    for pod in pods:
        status = pod.get("status") or {}
        meta = pod.get("metadata") or {}
        if (
            status.get("phase") != "Running"
            or not status.get("podIP")
            or meta.get("deletionTimestamp")
        ):
            continue
        if DRAINING_ANNOTATION in (meta.get("annotations") or {}):
            continue  # being scaled down or replaced: finish what it has, take nothing new
        port = int((meta.get("annotations") or {}).get(PORT_ANNOTATION) or target)
        role = (meta.get("labels") or {}).get(ENGINE_ROLE_LABEL, "both")
        out[f"http://{status['podIP']}:{port}"] = role if role in ("prefill", "decode") else "both"
    return out


class PolledPool:
    """Endpoints of an InferencePool, read in full on each call (the gateway polls it: it
    is not a :class:`WatchedDiscovery`); `close` releases its HTTP connections."""

    def __init__(self, source: PoolWatch) -> None:
        self._source = source

    async def __call__(self) -> dict[str, EngineRole]:
        return await self._source()

    async def close(self) -> None:
        await self._source.close()


def pool_discovery(api_url: str, token: str | None, namespace: str, pool: str) -> PolledPool:
    """Endpoints of InferencePool ``namespace/pool`` read from the Dockyard API at ``api_url``
    (one list per call; see :class:`PoolWatch` for the watching variant)."""
    return PolledPool(PoolWatch(api_url, token, namespace, pool))


class PoolWatch:
    """Endpoints of InferencePool ``namespace/pool``, kept current by a watch on its Pods."""

    def __init__(
        self,
        api_url: str,
        token: str | None,
        namespace: str,
        pool: str,
        watch_seconds: int = 60,
        retry_seconds: float = 1.0,
    ) -> None:
        self.base = api_url.rstrip("/")
        self.namespace = namespace
        self.pool = pool
        self.watch_seconds = watch_seconds
        self.retry_seconds = retry_seconds
        self.headers = {"authorization": f"Bearer {token}"} if token else {}
        self.client = HttpClient()
        self._pool: dict[str, Any] = {}
        self._pods: dict[str, dict[str, Any]] = {}
        self._selector = ""
        self._rv = ""

    async def close(self) -> None:
        await self.client.close()

    async def _get(self, path: str) -> Any:
        response = await self.client.request(
            "GET", self.base + path, headers=self.headers, timeout=5
        )
        body = json.loads(await asyncio.wait_for(response.read(), 5))
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}: {body.get('message', '')}")
        return body

    def _endpoints(self) -> dict[str, EngineRole]:
        return endpoints_of(self._pool, list(self._pods.values()))

    async def __call__(self) -> dict[str, EngineRole]:
        """List the pool and its Pods; remembers the list's resourceVersion for :meth:`run`."""
        self._pool = await self._get(POOL_PATH.format(ns=self.namespace, name=self.pool))
        selector = (self._pool.get("spec") or {}).get("selector") or {}
        self._selector = quote(",".join(f"{k}={v}" for k, v in sorted(selector.items())))
        if not self._selector:  # an empty selector matches nothing
            self._pods, self._rv = {}, ""
            return {}
        pods = await self._get(
            PODS_PATH.format(ns=self.namespace) + f"?labelSelector={self._selector}"
        )
        self._pods = {p["metadata"]["name"]: p for p in pods.get("items") or []}
        self._rv = str((pods.get("metadata") or {}).get("resourceVersion") or "")
        return self._endpoints()

    async def run(self, apply: Apply) -> None:
        """Watch, apply each change, list again when the watch ends; until cancelled."""
        while True:
            try:
                if not self._rv:
                    apply(await self())
                if self._rv:
                    await self._watch(apply)
                else:
                    await asyncio.sleep(self.retry_seconds)  # no selector yet: look again
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("pool watch failed; listing again", extra={"error": str(exc)})
                await asyncio.sleep(self.retry_seconds)
            self._rv = ""  # whatever ended the watch, start again from a fresh list

    async def _watch(self, apply: Apply) -> None:
        path = (
            PODS_PATH.format(ns=self.namespace)
            + f"?watch=true&labelSelector={self._selector}&resourceVersion={self._rv}"
            + f"&timeoutSeconds={self.watch_seconds}"
        )
        response = await self.client.request(
            "GET", self.base + path, headers=self.headers, timeout=5
        )
        if response.status != 200:
            await response.read()
            raise RuntimeError(f"watch pods: HTTP {response.status}")
        current = self._endpoints()  # what the list before this watch gave
        pending = b""
        async for chunk in response.chunks():
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if not lines:
                continue
            for line in lines:
                if line.strip():
                    self._event(json.loads(line))
            # One endpoint computation per chunk, not two per event: a chunk may carry
            # several events, and most (status churn) change nothing routable.
            latest = self._endpoints()
            if latest != current:
                apply(latest)
                current = latest

    def _event(self, event: dict[str, Any]) -> None:
        """Apply one watch event to the remembered Pods (and resourceVersion)."""
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":  # e.g. 410 Gone: the resourceVersion expired
            raise RuntimeError(f"watch error: {obj.get('message', obj)}")
        meta = obj.get("metadata") or {}
        name = meta.get("name")
        if not name:
            return
        if kind == "DELETED":
            self._pods.pop(name, None)
        else:
            self._pods[name] = obj
        self._rv = str(meta.get("resourceVersion") or self._rv)
