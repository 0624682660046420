"""Bearer-token authentication for the HTTP API.

A token is created on first start and stored in ``<data-dir>/token`` with mode 0600; clients
on the same machine read it from there (or ``DOCKYARD_TOKEN``). Feature packages can add
more accepted tokens (e.g. per-tenant keys) through :meth:`TokenAuthenticator.add_token`.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

TOKEN_FILE = "token"
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/livez", "/version", "/openapi.json", "/docs"})


def load_or_create_token(data_dir: Path) -> str:
    path = data_dir / TOKEN_FILE
    if path.exists():
        os.chmod(path, 0o600)
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


class TokenAuthenticator:
    def __init__(self, tokens: list[str], enabled: bool = True) -> None:
        self._tokens = {t: "admin" for t in tokens}
        self.enabled = enabled

    def add_token(self, token: str, subject: str) -> None:
        self._tokens[token] = subject

    def authenticate(self, header: str | None) -> str | None:
        """The subject for an ``Authorization`` header value, or None if not accepted."""
        if not self.enabled:
            return "anonymous"
        if not header or not header.startswith("Bearer "):
            return None
        presented = header[len("Bearer ") :].strip()
        for token, subject in self._tokens.items():
            if hmac.compare_digest(presented, token):
                return subject
        return None
