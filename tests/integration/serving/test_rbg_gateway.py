"""RoleBasedGroup on a real control plane: emulator Pods (real sandboxed processes) behind
the gateway, driven by the official OpenAI client; then scaling and a rolling update."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from dockyard.server import BackgroundControlPlane
from dockyard.serving.gateway import Gateway, GatewayConfig, MonitorConfig, pool_discovery

RBG = "/apis/workloads.x-k8s.io/v1alpha1/namespaces/default/rolebasedgroups"
POOLS = "/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/default/inferencepools"
PODS = "/api/v1/namespaces/default/pods"


def group(name: str, prefill: int, decode: int, time_scale: str = "50") -> dict[str, Any]:
    def role(role_name: str, replicas: int, deps: list[str]) -> dict[str, Any]:
        return {
            "name": role_name,
            "replicas": replicas,
            "dependencies": deps,
            "drainSeconds": 5,
            "rolloutStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "engineRuntimes": [
                {
                    "profileName": "emulator",
                    "args": ["--time-scale", time_scale, "--kv-blocks", "256"],
                }
            ],
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "engine", "image": "dockyard/engine-emulator"}]},
            },
        }

    return {
        "apiVersion": "workloads.x-k8s.io/v1alpha1",
        "kind": "RoleBasedGroup",
        "metadata": {"name": name},
        "spec": {"roles": [role("prefill", prefill, []), role("decode", decode, ["prefill"])]},
    }


def wait_until(check: Callable[[], Any], timeout: float = 40.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.1)


def role_status(http: httpx.Client, name: str) -> dict[str, dict[str, Any]]:
    obj = http.get(f"{RBG}/{name}").json()
    return {r["name"]: r for r in obj.get("status", {}).get("roles") or []}


def ready(http: httpx.Client, name: str, prefill: int, decode: int) -> bool:
    roles = role_status(http, name)
    want = {"prefill": prefill, "decode": decode}
    return all(
        roles.get(r, {}).get("readyReplicas") == n and roles.get(r, {}).get("replicas") == n
        for r, n in want.items()
    )


def pods_of(http: httpx.Client, name: str) -> list[dict[str, Any]]:
    selector = f"rolebasedgroup.workloads.x-k8s.io/name={name}"
    items: list[dict[str, Any]] = http.get(PODS, params={"labelSelector": selector}).json()["items"]
    return items


@pytest.mark.timeout(120)
def test_disaggregated_group_serves_openai_clients_through_the_gateway(
    plane: BackgroundControlPlane, http: httpx.Client
) -> None:
    name = "pd"
    assert http.post(RBG, json=group(name, 1, 2)).status_code == 201
    pool = {
        "apiVersion": "inference.networking.x-k8s.io/v1alpha2",
        "kind": "InferencePool",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "targetPortNumber": 8000},
    }
    assert http.post(POOLS, json=pool).status_code == 201
    wait_until(lambda: ready(http, name, 1, 2))
    # decode Pods start only after prefill is ready: every decode Pod is younger.
    pods = pods_of(http, name)
    first_decode = min(
        p["metadata"]["creationTimestamp"] for p in pods if "-decode-" in p["metadata"]["name"]
    )
    prefill_created = [
        p["metadata"]["creationTimestamp"] for p in pods if "-prefill-" in p["metadata"]["name"]
    ]
    assert max(prefill_created) <= first_decode

    async def scenario() -> tuple[list[str], dict[str, Any], list[dict[str, Any]]]:
        gateway = Gateway(
            GatewayConfig(
                port=0, pd_threshold_tokens=64, monitor=MonitorConfig(discovery_interval=0.2)
            ),
            discover=pool_discovery(plane.url, plane.cp.token, "default", name),
        )
        await gateway.start()
        try:
            client = openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key="unused")
            texts = []
            for i in range(3):
                stream = await client.chat.completions.create(
                    model="emulated-llama-2-7b",
                    messages=[
                        {"role": "system", "content": "You are terse. " * 40},
                        {"role": "user", "content": f"question {i}"},
                    ],
                    max_tokens=5,
                    stream=True,
                )
                texts.append(
                    "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
                )
            completion = await client.completions.create(
                model="emulated-llama-2-7b", prompt="hi", max_tokens=3
            )
            await client.close()
            return texts, completion.model_dump(), [dict(e) for e in (await _endpoints(gateway))]
        finally:
            await gateway.stop()

    texts, completion, endpoints = asyncio.run(scenario())
    assert all(len(t) == 20 for t in texts), texts  # 5 tokens of 4 characters
    assert completion["usage"]["completion_tokens"] == 3
    roles = sorted(e["role"] for e in endpoints)
    assert roles == ["decode", "decode", "prefill"]
    assert any(e["role"] == "prefill" and e["routed"] > 0 for e in endpoints), endpoints


async def _endpoints(gateway: Gateway) -> list[dict[str, Any]]:
    return [gateway._describe(e) for e in gateway.endpoints]


@pytest.mark.timeout(120)
def test_scaling_and_rolling_update_replace_pods_without_losing_the_group(
    plane: BackgroundControlPlane, http: httpx.Client
) -> None:
    name = "roll"
    assert http.post(RBG, json=group(name, 1, 1)).status_code == 201
    wait_until(lambda: ready(http, name, 1, 1))
    obj = http.get(f"{RBG}/{name}").json()
    obj["spec"]["roles"][1]["replicas"] = 2  # P:D 1:1 → 1:2
    assert http.put(f"{RBG}/{name}", json=obj).status_code == 200
    wait_until(lambda: ready(http, name, 1, 2))
    before = {p["metadata"]["name"] for p in pods_of(http, name)}
    obj = http.get(f"{RBG}/{name}").json()
    obj["spec"]["roles"][1]["engineRuntimes"][0]["args"] += ["--max-num-seqs", "64"]  # new revision
    assert http.put(f"{RBG}/{name}", json=obj).status_code == 200

    def rolled() -> bool:
        names = {p["metadata"]["name"] for p in pods_of(http, name)}
        decode = [n for n in names if "-decode-" in n]
        return ready(http, name, 1, 2) and len(decode) == 2 and not (set(decode) & before)

    wait_until(rolled, timeout=60)
    prefill_now = {
        p["metadata"]["name"] for p in pods_of(http, name) if "-prefill-" in p["metadata"]["name"]
    }
    assert prefill_now <= before  # the untouched role kept its Pod
    obj = http.get(f"{RBG}/{name}").json()
    obj["spec"]["roles"][1]["replicas"] = 1
    assert http.put(f"{RBG}/{name}", json=obj).status_code == 200
    wait_until(lambda: ready(http, name, 1, 1) and len(pods_of(http, name)) == 2, timeout=60)
