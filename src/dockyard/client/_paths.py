"""HTTP paths and query parameters of the Kubernetes-style API.

Pure functions from a :class:`~dockyard.client._kinds.KindInfo` (and names) to the request
line; both clients use them through :mod:`dockyard.client._ops`. Core kinds live under
``/api/v1``, every other group under ``/apis/{group}/{version}``; namespaced kinds add
``/namespaces/{ns}`` unless a collection is listed across all namespaces.
"""

from __future__ import annotations

from urllib.parse import quote

from dockyard.client._kinds import KindInfo

Params = tuple[tuple[str, str], ...]


def _segment(value: str) -> str:
    # Quote everything, "/" included: a name like "a/../b" must reach the server as one
    # path segment (and be rejected there), never address a different object.
    return quote(value, safe="")


def group_root(info: KindInfo) -> str:
    """``/api/v1`` for the core group, ``/apis/{group}/{version}`` otherwise."""
    if info.group:
        return f"/apis/{_segment(info.group)}/{_segment(info.version)}"
    return f"/api/{_segment(info.version)}"


def collection_path(info: KindInfo, namespace: str | None) -> str:
    """Path of a kind's collection.

    For a namespaced kind, ``namespace=None`` means every namespace. Cluster-scoped kinds
    ignore ``namespace``.
    """
    root = group_root(info)
    if info.namespaced and namespace is not None:
        return f"{root}/namespaces/{_segment(namespace)}/{_segment(info.plural)}"
    return f"{root}/{_segment(info.plural)}"


def item_path(info: KindInfo, name: str, namespace: str | None) -> str:
    """Path of one object. A namespaced kind needs a namespace (``ValueError`` otherwise)."""
    if not name:
        raise ValueError(f"a {info.kind} name is required")
    if info.namespaced and not namespace:
        raise ValueError(f"{info.kind} is namespaced: a namespace is required")
    return f"{collection_path(info, namespace)}/{_segment(name)}"


def log_path(name: str, namespace: str) -> str:
    """Path of a Pod's log stream."""
    return f"/api/v1/namespaces/{_segment(namespace)}/pods/{_segment(name)}/log"


def list_params(
    *,
    label_selector: str | None = None,
    limit: int | None = None,
    continue_token: str | None = None,
) -> Params:
    """Query parameters of a list request; absent values are left out."""
    params: list[tuple[str, str]] = []
    if label_selector:
        params.append(("labelSelector", label_selector))
    if limit is not None:
        params.append(("limit", str(limit)))
    if continue_token:
        params.append(("continue", continue_token))
    return tuple(params)


def watch_params(
    *,
    resource_version: str | None = None,
    label_selector: str | None = None,
    name: str | None = None,
    timeout_seconds: int | None = None,
) -> Params:
    """Query parameters of a watch request."""
    params: list[tuple[str, str]] = [("watch", "true")]
    if resource_version:
        params.append(("resourceVersion", resource_version))
    if label_selector:
        params.append(("labelSelector", label_selector))
    if name:
        params.append(("fieldSelector", f"metadata.name={name}"))
    if timeout_seconds is not None:
        params.append(("timeoutSeconds", str(timeout_seconds)))
    return tuple(params)


def log_params(
    *, container: str | None = None, follow: bool = False, tail_lines: int | None = None
) -> Params:
    """Query parameters of a log request."""
    params: list[tuple[str, str]] = []
    if container:
        params.append(("container", container))
    if follow:
        params.append(("follow", "true"))
    if tail_lines is not None:
        params.append(("tailLines", str(tail_lines)))
    return tuple(params)
