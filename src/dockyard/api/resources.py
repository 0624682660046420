"""Resource arithmetic over Pod specs: what a Pod requests and what it is limited to.

Internal units: ``cpu`` in millicores, ``memory`` and ``ephemeral-storage`` in bytes,
everything else (``nvidia.com/gpu``, extended resources) as plain integers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dockyard.api.quantity import cpu_millis, memory_bytes, parse_quantity

ResourceAmounts = dict[str, int]


def to_amount(name: str, quantity: str | int | float) -> int:
    if name == "cpu":
        return cpu_millis(quantity)
    if name in ("memory", "ephemeral-storage") or name.endswith("-memory"):
        return memory_bytes(quantity)
    return int(parse_quantity(quantity))


def amounts(quantities: Mapping[str, Any] | None) -> ResourceAmounts:
    return {name: to_amount(name, q) for name, q in (quantities or {}).items()}


def _container_requests(container: Mapping[str, Any]) -> ResourceAmounts:
    resources = container.get("resources") or {}
    # Kubernetes defaults a missing request to the limit.
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return amounts(merged)


def _add(total: ResourceAmounts, more: Mapping[str, int]) -> None:
    for name, value in more.items():
        total[name] = total.get(name, 0) + value


def _max(total: ResourceAmounts, more: Mapping[str, int]) -> None:
    for name, value in more.items():
        total[name] = max(total.get(name, 0), value)


def pod_requests(spec: Mapping[str, Any]) -> ResourceAmounts:
    """Effective requests: max(sum over app containers, max over init containers)."""
    total: ResourceAmounts = {}
    for container in spec.get("containers") or []:
        _add(total, _container_requests(container))
    for container in spec.get("initContainers") or []:
        _max(total, _container_requests(container))
    return total


def pod_limits(spec: Mapping[str, Any]) -> ResourceAmounts:
    """Sandbox-wide limits: the sum of app containers' limits, or no limit for a resource
    when any app container leaves it unlimited."""
    containers: Iterable[Mapping[str, Any]] = spec.get("containers") or []
    totals: ResourceAmounts = {}
    unlimited: set[str] = set()
    for container in containers:
        limits = amounts((container.get("resources") or {}).get("limits"))
        for name in ("cpu", "memory"):
            if name not in limits:
                unlimited.add(name)
        _add(totals, limits)
    for name in unlimited:
        totals.pop(name, None)
    return totals
