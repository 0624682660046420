"""Warm pools and placement: a pool sandbox is placed when it is started, a claim from the
pool is not placed again (the scheduler stays off that path), and a kill gives the place
back."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tests.integration.sandbox.conftest import run_in_fresh_root, running_service

from dockyard.sandbox._kinds import NAMESPACE, WARM_POOL


class CountingPlacement:
    def __init__(self) -> None:
        self.placed: list[str] = []
        self.released: list[str] = []

    def place(
        self, key: str, cpu_milli: int, memory_mib: int, node_selector: Mapping[str, str]
    ) -> str:
        self.placed.append(key)
        return "node-a"

    def assume(self, key: str, node: str, cpu_milli: int, memory_mib: int) -> None:
        raise AssertionError("nothing to adopt in a fresh data directory")

    def release(self, key: str) -> None:
        self.released.append(key)


async def _scenario(root: Path) -> None:
    placement = CountingPlacement()
    async with running_service(root, placement) as service:
        service.store.create(WARM_POOL, {"apiVersion": "agents.x-k8s.io/v1alpha1",
                                 "kind": "SandboxWarmPool",
                                 "metadata": {"name": "p", "namespace": NAMESPACE},
                                 "spec": {"replicas": 2, "templateRef": {"name": "base"}}})  # fmt: skip
        assert await service.fill_pools(30)
        assert len(placement.placed) == 2
        pooled = {r.placement_key for r in service.pools["base"]}

        record = await service.create("acme", "base")
        assert record.placement_key in pooled and record.node == "node-a"
        assert await service.fill_pools(30)
        # One more placement: the refill's; the claim itself was not placed again.
        assert len(placement.placed) == 3
        assert placement.placed[-1] not in pooled

        await service.kill("acme", record.sandbox_id)
        assert placement.released == [record.placement_key]
    # Stopping discards the pool: both of its places are given back.
    assert len(placement.released) == 3


def test_claims_from_a_pool_are_not_placed_again() -> None:
    run_in_fresh_root(_scenario)
