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
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from dockyard.serving.engine._http import HttpClient
from dockyard.serving.gateway.endpoints import EngineRole
from dockyard.serving.labels import DRAINING_ANNOTATION, ENGINE_ROLE_LABEL, PORT_ANNOTATION

POOL_PATH = "/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/{ns}/inferencepools/{name}"


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


def pool_discovery(
    api_url: str, token: str | None, namespace: str, pool: str
) -> Callable[[], Awaitable[dict[str, EngineRole]]]:
    """Endpoints of InferencePool ``namespace/pool`` read from the Dockyard API at ``api_url``."""
    client = HttpClient()
    headers = {"authorization": f"Bearer {token}"} if token else {}
    base = api_url.rstrip("/")

    async def discover() -> dict[str, EngineRole]:
        response = await client.request(
            "GET", base + POOL_PATH.format(ns=namespace, name=pool), headers=headers, timeout=5
        )
        body = json.loads(await response.read())
        if response.status != 200:
            raise RuntimeError(f"InferencePool {namespace}/{pool}: HTTP {response.status}")
        selector = body.get("spec", {}).get("selector") or {}
        labels = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        response = await client.request(
            "GET",
            f"{base}/api/v1/namespaces/{namespace}/pods?labelSelector={quote(labels)}",
            headers=headers,
            timeout=5,
        )
        pods = json.loads(await response.read())
        return endpoints_of(body, pods.get("items") or [])

    return discover
