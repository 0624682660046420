"""Background upkeep of the endpoint set: discovery, health checks, metric scrapes, KV events.

Discovery is polled every ``discovery_interval`` seconds, unless it is a
:class:`~dockyard.serving.gateway.discovery.WatchedDiscovery` (it also has a ``run`` method,
e.g. :class:`~dockyard.serving.gateway.discovery.PoolWatch`): then ``run`` is started once
and pushes each new endpoint set as it happens.

Serving layer. Each loop runs on the gateway's event loop at its own period and never
raises: an engine that does not answer is marked unhealthy after ``health_failures``
consecutive failed checks and healthy again after one success; a scrape that fails leaves
the previous numbers in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from dockyard.serving.engine._http import HttpClient
from dockyard.serving.gateway.discovery import WatchedDiscovery
from dockyard.serving.gateway.endpoints import EndpointSet, EngineRole, Scraped
from dockyard.serving.gateway.policies import Policy

log = logging.getLogger("dockyard.serving.gateway")

Discover = Callable[[], Awaitable[dict[str, EngineRole]]]


@dataclass(frozen=True)
class MonitorConfig:
    health_interval: float = 1.0
    health_timeout: float = 1.0
    health_failures: int = 2
    scrape_interval: float = 0.1
    kv_events_interval: float = 0.05
    discovery_interval: float = 1.0


def parse_metrics(text: str, at: float) -> Scraped:
    """The few engine numbers routing needs, from a vLLM or SGLang ``/metrics`` page."""
    out = Scraped(at=at)
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        name, _, rest = line.partition("{")
        if not rest:
            name, _, value = line.partition(" ")
            labels = ""
        else:
            labels, _, value = rest.rpartition("}")
        try:
            number = float(value.strip().split(" ")[0])
        except ValueError:
            continue
        if name in ("vllm:num_requests_waiting", "sglang:num_queue_reqs"):
            out.waiting = number
        elif name in ("vllm:num_requests_running", "sglang:num_running_reqs"):
            out.running = number
        elif name in (
            "vllm:kv_cache_usage_perc",
            "vllm:gpu_cache_usage_perc",
            "sglang:token_usage",
        ):
            out.kv_usage = number
        elif name == "vllm:cache_config_info":
            for part in labels.split(","):
                key, _, val = part.partition("=")
                if key.strip() == "num_gpu_blocks":
                    with contextlib.suppress(ValueError):
                        out.num_blocks = int(val.strip().strip('"'))
        elif name == "vllm:prefix_cache_queries_total":
            out.prefix_queries = number
        elif name == "vllm:prefix_cache_hits_total":
            out.prefix_hits = number
    return out


class Monitor:
    def __init__(
        self,
        endpoints: EndpointSet,
        policy: Policy,
        client: HttpClient,
        config: MonitorConfig,
        discover: Discover | None = None,
        kv_events: bool = True,
    ) -> None:
        self.endpoints = endpoints
        self.policy = policy
        self.client = client
        self.config = config
        self.discover = discover
        self.kv_events = kv_events
        self._cursors: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        loops: list[tuple[Callable[[], Awaitable[None]], float]] = [
            (self.check_health, self.config.health_interval),
            (self.scrape, self.config.scrape_interval),
        ]
        if self.kv_events:
            loops.append((self.pull_kv_events, self.config.kv_events_interval))
        loop = asyncio.get_running_loop()
        if isinstance(self.discover, WatchedDiscovery):
            self._tasks.append(loop.create_task(self.discover.run(self.apply)))
        elif self.discover is not None:
            loops.insert(0, (self.refresh, self.config.discovery_interval))
        for step, period in loops:
            self._tasks.append(loop.create_task(self._every(step, period)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        close = getattr(self.discover, "close", None)
        if close is not None:
            await close()

    async def _every(self, step: Callable[[], Awaitable[None]], period: float) -> None:
        while True:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("gateway monitor step failed")
            await asyncio.sleep(period)

    async def refresh(self) -> None:
        assert self.discover is not None
        self.apply(await self.discover())

    def apply(self, wanted: dict[str, EngineRole]) -> None:
        """Make the endpoint set ``wanted``; the policy forgets endpoints that left."""
        gone = set(self.endpoints.by_url) - set(wanted)
        self.endpoints.sync(wanted)
        for url in gone:
            self.policy.forget(url)
            self._cursors.pop(url, None)

    async def check_health(self) -> None:
        await asyncio.gather(*(self._check(e.url) for e in self.endpoints))

    async def _check(self, url: str) -> None:
        ok = False
        with contextlib.suppress(Exception):
            response = await self.client.request(
                "GET", url + "/health", timeout=self.config.health_timeout
            )
            await asyncio.wait_for(response.read(), self.config.health_timeout)
            ok = response.status == 200
        endpoint = self.endpoints.by_url.get(url)
        if endpoint is None:
            return
        if ok:
            endpoint.health_failures = 0
            endpoint.healthy = True
        else:
            endpoint.health_failures += 1
            if endpoint.health_failures >= self.config.health_failures:
                endpoint.healthy = False

    async def scrape(self) -> None:
        await asyncio.gather(*(self._scrape(e.url) for e in self.endpoints if e.healthy))

    async def _scrape(self, url: str) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            response = await self.client.request("GET", url + "/metrics", timeout=1.0)
            text = (await asyncio.wait_for(response.read(), 1.0)).decode()
            endpoint = self.endpoints.by_url.get(url)
            if endpoint is not None and response.status == 200:
                endpoint.scraped = parse_metrics(text, loop.time())

    async def pull_kv_events(self) -> None:
        await asyncio.gather(*(self._events(e.url) for e in self.endpoints if e.healthy))

    async def _events(self, url: str) -> None:
        after = self._cursors.get(url, 0)
        try:
            response = await self.client.request(
                "GET", f"{url}/kv_events?after={after}", timeout=1.0
            )
            if response.status != 200:
                await response.read()
                return
            data = await asyncio.wait_for(response.json(), 1.0)
        except Exception:
            return
        if url not in self.endpoints.by_url:
            return
        for kind, block_hash in data.get("events", []):
            self.policy.kv_event(url, kind, int(block_hash))
        self._cursors[url] = int(data.get("next", after))
