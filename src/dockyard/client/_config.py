"""Where the SDK finds its server and credentials.

Sits under :mod:`dockyard.client._sync` and :mod:`dockyard.client._async`: both clients
resolve their constructor arguments here, so the SDK and the CLI (which passes its options
straight through) agree on one precedence order: explicit argument, then environment, then
the default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import httpx

from dockyard._version import __version__

DEFAULT_SERVER = "http://127.0.0.1:7420"
SERVER_ENV = "DOCKYARD_SERVER"
TOKEN_ENV = "DOCKYARD_TOKEN"
DATA_DIR_ENV = "DOCKYARD_DATA_DIR"
TOKEN_FILE = "token"


def resolve_server(server: str | None) -> str:
    """Return the base URL: ``server``, else ``$DOCKYARD_SERVER``, else the default.

    A trailing slash is dropped so that API paths can be appended verbatim.
    """
    chosen = server or os.environ.get(SERVER_ENV) or DEFAULT_SERVER
    return chosen.rstrip("/")


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """The data directory: ``data_dir``, else ``$DOCKYARD_DATA_DIR``, else ``~/.dockyard``."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    from_env = os.environ.get(DATA_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return Path.home() / ".dockyard"


def resolve_token(token: str | None, data_dir: str | os.PathLike[str] | None) -> str | None:
    """Return the bearer token, or ``None`` when there is none to send.

    Precedence: ``token``, then ``$DOCKYARD_TOKEN``, then the file ``<data dir>/token``
    written by the control plane on first start. A missing or unreadable file means "no
    token"; the server then answers 401 if it wants one, which is the clearer error.
    """
    if token:
        return token
    from_env = os.environ.get(TOKEN_ENV)
    if from_env:
        return from_env.strip()
    path = resolve_data_dir(data_dir) / TOKEN_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved connection settings shared by :class:`Client` and :class:`AsyncClient`."""

    server: str
    token: str | None
    data_dir: Path

    @classmethod
    def resolve(
        cls,
        server: str | None,
        token: str | None,
        data_dir: str | os.PathLike[str] | None,
    ) -> Settings:
        """Apply the precedence rules of this module to the constructor arguments."""
        return cls(
            server=resolve_server(server),
            token=resolve_token(token, data_dir),
            data_dir=resolve_data_dir(data_dir),
        )

    def headers(self) -> dict[str, str]:
        """Headers sent with every request: user agent, and the bearer token if any."""
        headers = {"User-Agent": f"dockyard-client/{__version__}", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


def stream_timeout(default: httpx.Timeout, read: float | None) -> httpx.Timeout:
    """The client's timeouts with the read timeout replaced (``None``: wait forever)."""
    return httpx.Timeout(connect=default.connect, read=read, write=default.write, pool=default.pool)
