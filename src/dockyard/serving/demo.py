"""The inference stage of ``dockyard demo``: a disaggregated RoleBasedGroup on emulated
engines behind the gateway, with the official ``openai`` client streaming through it.

Serving layer; talks to the control plane over its HTTP API (``server`` URL + ``token``),
so it works against any running Dockyard. Call :func:`run_inference_stage`; it returns True
when every streamed completion arrived, and removes what it created.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from dockyard.serving.gateway import Gateway, GatewayConfig, PoolWatch

RBG_PATH = "/apis/workloads.x-k8s.io/v1alpha1/namespaces/{ns}/rolebasedgroups"
POOL_PATH = "/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/{ns}/inferencepools"
MODEL = "emulated-llama-2-7b"
QUESTIONS = (
    "What does a prefix cache save?",
    "Why split prefill from decode?",
    "How does the gateway pick an engine?",
)
SYSTEM = "You are Dockyard's inference demo. Answer in one short sentence. " * 12


def demo_group(
    name: str, prefill: int = 1, decode: int = 2, time_scale: float = 5.0
) -> dict[str, Any]:
    """A RoleBasedGroup with prefill and decode roles on emulated engines."""

    def role(role_name: str, replicas: int, deps: list[str]) -> dict[str, Any]:
        return {
            "name": role_name,
            "replicas": replicas,
            "dependencies": deps,
            "drainSeconds": 5,
            "engineRuntimes": [
                {
                    "profileName": "emulator",
                    "model": MODEL,
                    "args": ["--time-scale", str(time_scale), "--kv-blocks", "1024"],
                }
            ],
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "engine",
                            "image": "dockyard/engine-emulator",
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                        }
                    ]
                },
            },
        }

    return {
        "apiVersion": "workloads.x-k8s.io/v1alpha1",
        "kind": "RoleBasedGroup",
        "metadata": {"name": name},
        "spec": {"roles": [role("prefill", prefill, []), role("decode", decode, ["prefill"])]},
    }


@contextmanager
def gateway_thread(server: str, token: str, namespace: str, pool: str) -> Iterator[Gateway]:
    """A gateway on its own event loop in a background thread, for synchronous callers."""
    loop = asyncio.new_event_loop()
    gateway = Gateway(
        GatewayConfig(port=0, pd_threshold_tokens=64),
        discover=PoolWatch(server, token, namespace, pool),
    )
    thread = threading.Thread(target=loop.run_forever, name="dockyard-gateway", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(gateway.start(), loop).result(10)
    try:
        yield gateway
    finally:
        asyncio.run_coroutine_threadsafe(gateway.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def _wait_ready(api: httpx.Client, path: str, endpoints: int = 0, timeout: float = 60.0) -> None:
    """Wait for the object's Ready condition (and, for a pool, at least `endpoints` ready
    endpoints: Ready turns True with the first one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = api.get(path).json().get("status", {})
        if int(status.get("readyEndpoints") or 0) >= endpoints and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        ):
            return
        time.sleep(0.2)
    raise TimeoutError(f"{path} not ready after {timeout}s")


def run_inference_stage(
    server: str,
    token: str,
    console: Console | None = None,
    namespace: str = "default",
    name: str = "demo-llm",
) -> bool:
    """Create the group and pool, stream chat completions through the gateway, clean up."""
    import openai

    console = console or Console()
    rbgs, pools = RBG_PATH.format(ns=namespace), POOL_PATH.format(ns=namespace)
    api = httpx.Client(base_url=server, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    ok = True
    try:
        group = demo_group(name)
        api.post(rbgs, json=group).raise_for_status()
        api.post(
            pools,
            json={
                "apiVersion": "inference.networking.x-k8s.io/v1alpha2",
                "kind": "InferencePool",
                "metadata": {"name": name},
                "spec": {"selector": {"app": name}, "targetPortNumber": 8000},
            },
        ).raise_for_status()
        console.print(
            "[bold]inference[/bold]: RoleBasedGroup with 1 prefill + 2 decode emulated engines"
        )
        with console.status("waiting for the prefill role, then the decode role"):
            _wait_ready(api, f"{rbgs}/{name}")
            _wait_ready(api, f"{pools}/{name}", sum(r["replicas"] for r in group["spec"]["roles"]))
        pool_status = api.get(f"{pools}/{name}").json().get("status") or {}
        roles = ", ".join(f"{n} {r}" for r, n in (pool_status.get("endpointsByRole") or {}).items())
        console.print(
            f"InferencePool {name}: {pool_status.get('readyEndpoints', 0)} ready endpoints ({roles})"
        )
        with gateway_thread(server, token, namespace, name) as gateway:
            client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="demo")
            for question in QUESTIONS:
                console.print(f"[cyan]user[/cyan]: {question}")
                console.print("[green]assistant[/green]:", end=" ")
                started = time.perf_counter()
                first: float | None = None
                pieces: list[str] = []
                stream = client.chat.completions.create(
                    model=MODEL,
                    messages=[
                        {"role": "system", "content": SYSTEM},
                        {"role": "user", "content": question},
                    ],
                    max_tokens=12,
                    stream=True,
                )
                for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        first = first or time.perf_counter()
                        pieces.append(chunk.choices[0].delta.content)
                        console.print(chunk.choices[0].delta.content, end="")
                ttft = ((first or time.perf_counter()) - started) * 1000
                console.print(f"  [dim](first token {ttft:.0f} ms)[/dim]")
                ok = ok and len(pieces) == 12
            client.close()
            table = Table(title="Gateway endpoints")
            for column in ("engine", "role", "requests routed", "healthy"):
                table.add_column(column)
            for endpoint in gateway.endpoints:
                table.add_row(
                    endpoint.url, endpoint.role, str(endpoint.routed), str(endpoint.healthy)
                )
            console.print(table)
            console.print(f"disaggregated prefills: {gateway.stats.disaggregated}")
    except (httpx.HTTPError, TimeoutError, openai.OpenAIError) as exc:
        console.print(f"[red]inference stage failed[/red]: {exc}")
        ok = False
    finally:
        for path in (f"{pools}/{name}", f"{rbgs}/{name}"):
            with suppress(httpx.HTTPError):
                api.delete(path)
        api.close()
    return ok
