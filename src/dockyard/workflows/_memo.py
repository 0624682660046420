"""Memoization caches: a template's outputs stored under a key and reused while fresh.

Workflows layer. Argo keeps each cache in a ConfigMap named by ``memoize.cache.configMap``;
Dockyard keeps one JSON file per cache name in the control plane's data directory, with
the same entry shape (``nodeID``, ``outputs``, ``creationTimestamp``, ``lastHitTimestamp``).
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class MemoCache:
    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._caches: dict[str, dict[str, dict[str, Any]]] = {}

    def _load(self, cache: str) -> dict[str, dict[str, Any]]:
        if cache not in self._caches:
            entries: dict[str, dict[str, Any]] = {}
            if self.directory is not None:
                path = self.directory / f"{_SAFE.sub('_', cache)}.json"
                if path.exists():
                    try:
                        entries = json.loads(path.read_text())
                    except (OSError, json.JSONDecodeError):
                        entries = {}
            self._caches[cache] = entries
        return self._caches[cache]

    def get(self, cache: str, key: str, max_age: float | None, now: float) -> dict[str, Any] | None:
        with self._lock:
            entry = self._load(cache).get(key)
        if entry is None:
            return None
        if max_age is not None and now - float(entry.get("createdAt", 0)) > max_age:
            return None
        return entry

    def put(self, cache: str, key: str, node_id: str, outputs: dict[str, Any], now: float) -> None:
        with self._lock:
            entries = self._load(cache)
            entries[key] = {"nodeID": node_id, "outputs": outputs, "createdAt": now}
            if self.directory is not None:
                self.directory.mkdir(parents=True, exist_ok=True)
                path = self.directory / f"{_SAFE.sub('_', cache)}.json"
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(entries))
                tmp.replace(path)
