"""Tenant API keys for the E2B-compatible API and per-sandbox access tokens.

Sandbox feature. An API key is ``e2b_`` + 40 hex characters (the format E2B SDKs check),
issued per tenant by ``dockyard sandbox issue-key`` and kept as a SHA-256 digest in
``<data-dir>/sandbox/api-keys.json`` (mode 0600), so the running server picks up new keys
without a restart. With authentication disabled (``dockyard up --no-auth``, loopback only)
any well-formed key is accepted: a known key still maps to its tenant, others to ``dev``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from pathlib import Path

KEY_RE = re.compile(r"^e2b_[0-9a-f]{40}$")
DEV_TENANT = "dev"
_TENANT_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def keys_file(data_dir: Path) -> Path:
    return data_dir / "sandbox" / "api-keys.json"


def issue_key(data_dir: Path, tenant: str) -> str:
    """Create a new key for `tenant` (a DNS label) and record its digest; returns the key,
    which is shown once and never stored."""
    if not _TENANT_RE.match(tenant):
        raise ValueError(f"tenant {tenant!r} must be a DNS label (a-z, 0-9, '-')")
    path = keys_file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = "e2b_" + secrets.token_hex(20)
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError):
        table = {}
    table[_digest(key)] = tenant
    tmp = path.with_name(".api-keys.json.tmp")
    tmp.write_text(json.dumps(table, indent=1))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return key


class ApiKeys:
    """Maps a presented key to its tenant; re-reads the key file when it changes."""

    def __init__(self, data_dir: Path, enforce: bool = True) -> None:
        self.path = keys_file(data_dir)
        self.enforce = enforce
        self._mtime: float | None = None
        self._table: dict[str, str] = {}

    def _reload(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            self._table, self._mtime = {}, None
            return
        if mtime != self._mtime:
            try:
                self._table = dict(json.loads(self.path.read_text()))
            except (OSError, ValueError):
                self._table = {}
            self._mtime = mtime

    def tenant(self, key: str | None) -> str | None:
        """The key's tenant, or None when the key is missing, malformed or unknown."""
        if not key or not KEY_RE.match(key):
            return None
        self._reload()
        tenant = self._table.get(_digest(key))
        if tenant is None and not self.enforce:
            return DEV_TENANT
        return tenant


def new_access_token() -> str:
    return secrets.token_hex(24)


def token_matches(expected: str | None, presented: str | None) -> bool:
    return (
        bool(expected)
        and bool(presented)
        and hmac.compare_digest(str(expected).encode(), str(presented).encode())
    )
