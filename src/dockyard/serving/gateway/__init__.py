"""The inference gateway: an OpenAI-compatible proxy with prefix- and load-aware routing.

Serving layer. :class:`Gateway` (the proxy), the routing :mod:`policies`, the endpoint
:mod:`monitor` (health, metrics, KV events, discovery) and Dockyard endpoint discovery
(:func:`pool_discovery`).
"""

from dockyard.serving.gateway.discovery import PoolWatch, pool_discovery, static_discovery
from dockyard.serving.gateway.endpoints import Endpoint, EndpointSet
from dockyard.serving.gateway.monitor import MonitorConfig
from dockyard.serving.gateway.policies import DEFAULT_POLICY, POLICIES, make_policy
from dockyard.serving.gateway.proxy import Gateway, GatewayConfig

__all__ = [
    "DEFAULT_POLICY",
    "POLICIES",
    "Endpoint",
    "EndpointSet",
    "Gateway",
    "GatewayConfig",
    "MonitorConfig",
    "PoolWatch",
    "make_policy",
    "pool_discovery",
    "static_discovery",
]
