"""A block-granular prefix cache with a finite pool of KV blocks and LRU eviction.

Serving layer, standard library only; modelled on vLLM's prefix caching. The pool holds
``num_blocks`` blocks of 16 tokens. A running sequence holds references to its blocks; a
block whose content is a full prompt block is *cached* under its chained hash and survives
its sequences as long as nobody needs the space. Allocation takes never-used blocks first,
then evicts the least recently released cached block.

Contract:

* :meth:`lookup` counts the longest run of leading hashes present (no side effects).
* :meth:`allocate` either gives a sequence all the blocks it asked for (cached hits are
  shared and refreshed, the rest are fresh) or changes nothing and returns None.
* :meth:`commit` publishes a sequence's computed full blocks under their hashes.
* :meth:`free` drops a sequence's references; cached blocks become evictable (LRU), others
  return to the free pool.
* ``events`` records ``("stored"|"removed", hash)`` pairs for KV-event subscribers.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass
class Allocation:
    """The blocks one sequence holds, in prompt order; ``hit_blocks`` came from the cache."""

    blocks: list[int] = field(default_factory=list)
    hit_blocks: int = 0


class PrefixCache:
    def __init__(self, num_blocks: int, max_events: int = 100_000) -> None:
        if num_blocks <= 0:
            raise ValueError("num_blocks must be positive")
        self.num_blocks = num_blocks
        self._free: list[int] = list(range(num_blocks - 1, -1, -1))
        self._refs = [0] * num_blocks
        self._hash_of: dict[int, int] = {}  # block → hash, for cached blocks
        self._block_of: dict[int, int] = {}  # hash → block
        self._evictable: OrderedDict[int, None] = OrderedDict()  # cached, unreferenced; LRU first
        self.events: list[tuple[str, int]] = []
        self.event_base = 0  # sequence number of events[0]
        self._max_events = max_events

    # -- queries -----------------------------------------------------------------------
    def lookup(self, hashes: list[int]) -> int:
        """How many leading ``hashes`` are cached."""
        n = 0
        for h in hashes:
            if h not in self._block_of:
                break
            n += 1
        return n

    @property
    def used_blocks(self) -> int:
        """Blocks referenced by running sequences."""
        return self.num_blocks - len(self._free) - len(self._evictable)

    @property
    def available_blocks(self) -> int:
        return len(self._free) + len(self._evictable)

    @property
    def cached_blocks(self) -> int:
        return len(self._block_of)

    # -- changes -----------------------------------------------------------------------
    def allocate(self, hashes: list[int], total_blocks: int) -> Allocation | None:
        """Blocks for a sequence of ``total_blocks`` whose leading full blocks hash to ``hashes``."""
        hits = self.lookup(hashes)
        hit_blocks = [self._block_of[h] for h in hashes[:hits]]
        fresh_needed = max(0, total_blocks - hits)
        # Cached hits that are currently evictable are not available for fresh blocks.
        reusable_hits = sum(1 for b in hit_blocks if self._refs[b] == 0)
        if fresh_needed > self.available_blocks - reusable_hits:
            return None
        for block in hit_blocks:
            if self._refs[block] == 0:
                self._evictable.pop(block, None)
            self._refs[block] += 1
        fresh = [self._take_block() for _ in range(fresh_needed)]
        return Allocation(hit_blocks + fresh, hits)

    def grow(self, allocation: Allocation, total_blocks: int) -> bool:
        """Extend ``allocation`` to ``total_blocks`` blocks; False (unchanged) when full."""
        need = total_blocks - len(allocation.blocks)
        if need <= 0:
            return True
        if need > self.available_blocks:
            return False
        allocation.blocks.extend(self._take_block() for _ in range(need))
        return True

    def commit(self, allocation: Allocation, hashes: list[int]) -> None:
        """Publish the computed full blocks of a sequence under ``hashes`` (prompt order)."""
        for block, h in zip(allocation.blocks, hashes, strict=False):
            if block in self._hash_of or h in self._block_of:
                continue  # already cached (a hit, or a twin computed concurrently)
            self._hash_of[block] = h
            self._block_of[h] = block
            self._event("stored", h)

    def free(self, allocation: Allocation) -> None:
        # Release in reverse so a prompt's tail is evicted before its shared head.
        for block in reversed(allocation.blocks):
            self._refs[block] -= 1
            if self._refs[block] == 0:
                if block in self._hash_of:
                    self._evictable[block] = None
                else:
                    self._free.append(block)
        allocation.blocks = []

    def reset(self) -> None:
        """Drop every unreferenced cached block (vLLM's reset_prefix_cache)."""
        for block in list(self._evictable):
            self._uncache(block)
            self._free.append(block)
        self._evictable.clear()

    # -- internals ---------------------------------------------------------------------
    def _take_block(self) -> int:
        if self._free:
            block = self._free.pop()
        else:
            block, _ = self._evictable.popitem(last=False)
            self._uncache(block)
        self._refs[block] = 1
        return block

    def _uncache(self, block: int) -> None:
        h = self._hash_of.pop(block, None)
        if h is not None:
            del self._block_of[h]
            self._event("removed", h)

    def _event(self, kind: str, h: int) -> None:
        self.events.append((kind, h))
        if len(self.events) > self._max_events:
            drop = len(self.events) // 2
            del self.events[:drop]
            self.event_base += drop
