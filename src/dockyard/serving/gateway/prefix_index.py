"""Which prompt blocks each endpoint probably holds: an LRU of block hashes per endpoint.

Serving layer. Updated when the gateway routes a request (the chosen endpoint will hold the
prompt's blocks) and, where engines publish KV events, when blocks are really stored or
evicted. Each endpoint's LRU is capped: GIE uses a fixed 31,250 entries; Dockyard's policy
sizes it to the engine's real number of KV blocks (``vllm:cache_config_info``), so the
index forgets what the engine must have evicted.
"""

from __future__ import annotations

from collections import OrderedDict


class PrefixIndex:
    def __init__(self, default_capacity: int = 31_250) -> None:
        self.default_capacity = default_capacity
        self._lru: dict[str, OrderedDict[int, None]] = {}
        self._capacity: dict[str, int] = {}

    def set_capacity(self, endpoint: str, blocks: int) -> None:
        self._capacity[endpoint] = max(1, blocks)
        self._trim(endpoint)

    def match(self, endpoint: str, hashes: list[int]) -> int:
        """Leading blocks of ``hashes`` the endpoint is believed to hold."""
        lru = self._lru.get(endpoint)
        if not lru:
            return 0
        n = 0
        for h in hashes:
            if h not in lru:
                break
            n += 1
        return n

    def add(self, endpoint: str, hashes: list[int]) -> None:
        lru = self._lru.setdefault(endpoint, OrderedDict())
        # Oldest-first insertion keeps the prompt's head most recent, so a tail goes first,
        # as the engine itself releases blocks tail first.
        for h in reversed(hashes):
            if h in lru:
                lru.move_to_end(h)
            else:
                lru[h] = None
        self._trim(endpoint)

    def remove(self, endpoint: str, h: int) -> None:
        lru = self._lru.get(endpoint)
        if lru is not None:
            lru.pop(h, None)

    def size(self, endpoint: str) -> int:
        return len(self._lru.get(endpoint, ()))

    def forget(self, endpoint: str) -> None:
        self._lru.pop(endpoint, None)
        self._capacity.pop(endpoint, None)

    def _trim(self, endpoint: str) -> None:
        lru = self._lru.get(endpoint)
        if lru is None:
            return
        cap = self._capacity.get(endpoint, self.default_capacity)
        while len(lru) > cap:
            lru.popitem(last=False)
