"""Runs one SDK call against :class:`Client` or :class:`AsyncClient`, whichever is chosen.

Every behavioural SDK test goes through :class:`Driver`, parametrized over both flavours,
which is how the suite keeps the two surfaces identical.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fake_api import FakeApi

from dockyard.client import AsyncClient, Client


class Driver:
    """Calls a client method by name and returns plain results, whichever the flavour."""

    def __init__(
        self,
        flavour: str,
        fake: FakeApi | None,
        transport: httpx.MockTransport | None = None,
        **kwargs: Any,
    ) -> None:
        """Without ``fake`` and ``transport`` the client talks to the real network."""
        self.flavour = flavour
        self.fake = fake
        if transport is None and fake is not None:
            transport = fake.transport
        kwargs.setdefault("server", "http://dockyard.test")
        if flavour == "sync":
            self.client: Any = Client(transport=transport, **kwargs)
            self.loop: asyncio.AbstractEventLoop | None = None
        else:
            self.client = AsyncClient(transport=transport, **kwargs)
            self.loop = asyncio.new_event_loop()

    def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.client, method)(*args, **kwargs)
        if self.loop is not None:
            return self.loop.run_until_complete(result)
        return result

    def collect(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        """Drain a streaming method (watch, logs) into a list."""
        stream = getattr(self.client, method)(*args, **kwargs)
        if self.loop is None:
            return list(stream)

        async def drain() -> list[Any]:
            return [item async for item in stream]

        return self.loop.run_until_complete(drain())

    def close(self) -> None:
        if self.loop is None:
            self.client.close()
        else:
            self.loop.run_until_complete(self.client.aclose())
            self.loop.close()
