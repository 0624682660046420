"""The block prefix cache: sharing, LRU eviction of unreferenced blocks, all-or-nothing
allocation, and the KV events it records."""

from __future__ import annotations

import pytest

from dockyard.serving.engine.kvcache import PrefixCache


def test_hits_are_shared_and_survive_their_sequence() -> None:
    cache = PrefixCache(8)
    a = cache.allocate([1, 2, 3], 4)
    assert a is not None and a.hit_blocks == 0
    cache.commit(a, [1, 2, 3])
    cache.free(a)
    assert cache.lookup([1, 2, 3, 4]) == 3
    b = cache.allocate([1, 2, 9], 4)
    assert b is not None and b.hit_blocks == 2
    assert cache.used_blocks == 4


@pytest.mark.parametrize(
    ("blocks", "first", "second", "survivors"),
    [
        pytest.param(4, [1, 2], [3, 4], [1, 2], id="room-for-both"),
        pytest.param(3, [1, 2], [3, 4], [1], id="tail-evicted-before-head"),
        pytest.param(2, [1, 2], [3, 4], [], id="all-evicted"),
    ],
)
def test_lru_eviction_order(
    blocks: int, first: list[int], second: list[int], survivors: list[int]
) -> None:
    cache = PrefixCache(blocks)
    a = cache.allocate(first, len(first))
    assert a is not None
    cache.commit(a, first)
    cache.free(a)
    b = cache.allocate(second, len(second))
    assert b is not None
    assert [
        h
        for h in first
        if cache.lookup([h])
        if cache.lookup(first[: first.index(h) + 1]) == first.index(h) + 1
    ] == survivors


def test_allocation_is_all_or_nothing_when_full() -> None:
    cache = PrefixCache(4)
    a = cache.allocate([], 3)
    assert a is not None
    assert cache.allocate([], 2) is None
    assert cache.used_blocks == 3
    assert cache.grow(a, 5) is False and len(a.blocks) == 3
    assert cache.grow(a, 4) is True


def test_events_record_stores_and_evictions() -> None:
    cache = PrefixCache(1)
    a = cache.allocate([7], 1)
    assert a is not None
    cache.commit(a, [7])
    cache.free(a)
    b = cache.allocate([8], 1)
    assert b is not None
    assert cache.events == [("stored", 7), ("removed", 7)]
