"""Synchronization: mutexes and semaphores shared by all workflows of a control plane.

Workflows layer. Locks live in memory and are rebuilt from the workflows themselves: a
workflow that holds a lock says so in ``status.synchronization`` and re-acquires it (an
idempotent call) when it is reconciled after a restart. Waiters are served by priority
(higher first), then by the time they first asked. A release wakes the next waiters
through the ``wake`` callback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True)
class _Waiter:
    sort_key: tuple[int, float]
    holder: str = field(compare=False)
    owner: str = field(compare=False)


@dataclass
class _Lock:
    limit: int
    holders: dict[str, str] = field(default_factory=dict)  # holder → owner (workflow key)
    waiting: list[_Waiter] = field(default_factory=list)


class SyncManager:
    """``try_acquire`` / ``release`` by lock name; ``owner`` is what ``wake`` receives."""

    def __init__(
        self,
        semaphore_limits: dict[str, int] | None = None,
        wake: Callable[[str], None] | None = None,
    ) -> None:
        self.semaphore_limits = dict(semaphore_limits or {})
        self.wake = wake or (lambda owner: None)
        self._locks: dict[str, _Lock] = {}

    def limit_of(self, lock: str) -> int:
        if lock.startswith("semaphore/"):
            return max(0, self.semaphore_limits.get(lock.removeprefix("semaphore/"), 1))
        return 1

    def try_acquire(self, lock: str, holder: str, owner: str, priority: int, since: float) -> bool:
        state = self._locks.setdefault(lock, _Lock(self.limit_of(lock)))
        state.limit = self.limit_of(lock)
        if holder in state.holders:
            return True
        waiter = next((w for w in state.waiting if w.holder == holder), None)
        if waiter is None:
            waiter = _Waiter((-priority, since), holder, owner)
            state.waiting.append(waiter)
            state.waiting.sort()
        free = state.limit - len(state.holders)
        if free > 0 and waiter in state.waiting[:free]:
            state.waiting.remove(waiter)
            state.holders[holder] = owner
            return True
        return False

    def release(self, lock: str, holder: str) -> None:
        state = self._locks.get(lock)
        if state is None:
            return
        state.holders.pop(holder, None)
        state.waiting = [w for w in state.waiting if w.holder != holder]
        free = state.limit - len(state.holders)
        for waiter in state.waiting[: max(free, 0)]:
            self.wake(waiter.owner)

    def release_owner(self, owner: str) -> None:
        """Drop every hold and wait of one workflow (it finished or was deleted)."""
        for name, state in list(self._locks.items()):
            for holder in [h for h, o in state.holders.items() if o == owner]:
                self.release(name, holder)
            state.waiting = [w for w in state.waiting if w.owner != owner]

    def holders(self, lock: str) -> list[str]:
        state = self._locks.get(lock)
        return sorted(state.holders) if state else []


def lock_names(synchronization: dict[str, object] | None, namespace: str) -> list[str]:
    """The lock names a ``synchronization`` block asks for, in a stable order."""
    if not synchronization:
        return []
    names: list[str] = []
    mutexes = list(synchronization.get("mutexes") or [])  # type: ignore[call-overload]
    if synchronization.get("mutex"):
        mutexes.append(synchronization["mutex"])
    for mutex in mutexes:
        ns = mutex.get("namespace") or namespace
        names.append(f"mutex/{ns}/{mutex.get('name', '')}")
    semaphores = list(synchronization.get("semaphores") or [])  # type: ignore[call-overload]
    if synchronization.get("semaphore"):
        semaphores.append(synchronization["semaphore"])
    for semaphore in semaphores:
        ref = semaphore.get("configMapKeyRef") or {}
        names.append(f"semaphore/{ref.get('name', '')}/{ref.get('key', '')}")
    return names
