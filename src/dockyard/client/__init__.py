"""The Dockyard Python SDK: :class:`Client` (blocking) and :class:`AsyncClient` (asyncio).

Sits between user code (and the ``dockyard`` CLI) and the HTTP API of the control plane;
it never imports the server. Objects are plain dicts shaped like Kubernetes objects; the
server owns their schema. Kinds are discovered from the server, so every kind it serves —
Pods, Argo Workflows, anything registered later — is addressed by the same methods::

    from dockyard.client import Client

    with Client() as client:
        pod, action = client.apply(manifest)
        client.wait_for("pod", pod["metadata"]["name"], phase="Succeeded", timeout=60)
        for chunk in client.logs(pod["metadata"]["name"]):
            print(chunk, end="")
"""

from dockyard.client._async import AsyncClient
from dockyard.client._config import DEFAULT_SERVER, resolve_data_dir
from dockyard.client._errors import (
    AlreadyExistsError,
    ApiError,
    BadRequestError,
    Cause,
    ConditionUnreachableError,
    ConflictError,
    ConnectionLostError,
    DockyardError,
    ForbiddenError,
    GoneError,
    InternalServerError,
    InvalidError,
    NotFoundError,
    ServerUnreachableError,
    UnauthorizedError,
    UnknownKindError,
    WaitError,
    WaitTimeoutError,
)
from dockyard.client._kinds import KindInfo
from dockyard.client._sync import Client
from dockyard.client._watch import WatchEvent

__all__ = [
    "DEFAULT_SERVER",
    "AlreadyExistsError",
    "ApiError",
    "AsyncClient",
    "BadRequestError",
    "Cause",
    "Client",
    "ConditionUnreachableError",
    "ConflictError",
    "ConnectionLostError",
    "DockyardError",
    "ForbiddenError",
    "GoneError",
    "InternalServerError",
    "InvalidError",
    "KindInfo",
    "NotFoundError",
    "ServerUnreachableError",
    "UnauthorizedError",
    "UnknownKindError",
    "WaitError",
    "WaitTimeoutError",
    "WatchEvent",
    "resolve_data_dir",
]
