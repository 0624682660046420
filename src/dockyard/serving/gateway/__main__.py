"""``python -m dockyard.serving.gateway``: run the gateway until SIGTERM/SIGINT.

Endpoints are static (``--engine URL``, repeatable; ``--prefill URL`` and ``--decode URL``
for disaggregated pools) or an InferencePool read from a Dockyard API server
(``--pool NAME --server URL [--token T] [--namespace NS]``), watched for changes
(``--discovery poll`` re-lists it every second instead).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable

from dockyard.serving.engine._http import serve_until_signalled
from dockyard.serving.gateway.discovery import PoolWatch, pool_discovery, static_discovery
from dockyard.serving.gateway.endpoints import EngineRole
from dockyard.serving.gateway.policies import DEFAULT_POLICY, POLICIES
from dockyard.serving.gateway.proxy import Gateway, GatewayConfig


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dockyard gateway", description="Dockyard inference gateway.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--policy", choices=sorted(POLICIES), default=DEFAULT_POLICY)
    p.add_argument("--engine", action="append", default=[], help="engine URL (repeatable)")
    p.add_argument("--prefill", action="append", default=[], help="prefill engine URL")
    p.add_argument("--decode", action="append", default=[], help="decode engine URL")
    p.add_argument("--pool", help="InferencePool name to read endpoints from")
    p.add_argument("--server", default="http://127.0.0.1:7420", help="Dockyard API URL")
    p.add_argument("--token", default=None)
    p.add_argument("--namespace", default="default")
    p.add_argument(
        "--discovery",
        choices=("watch", "poll"),
        default="watch",
        help="follow the pool's Pods by a watch (default) or by listing every second",
    )
    p.add_argument("--pd-threshold", type=int, default=512, help="uncached tokens to disaggregate")
    p.add_argument("--no-kv-events", action="store_true")
    return p


def discovery_from(args: argparse.Namespace) -> Callable[[], Awaitable[dict[str, EngineRole]]]:
    if args.pool:
        if args.discovery == "watch":
            return PoolWatch(args.server, args.token, args.namespace, args.pool)
        return pool_discovery(args.server, args.token, args.namespace, args.pool)
    roles: dict[str, EngineRole] = {u: "prefill" for u in args.prefill}
    roles.update({u: "decode" for u in args.decode})
    if not args.engine and not roles:
        raise ValueError("give --engine/--prefill/--decode URLs or --pool")
    return static_discovery(args.engine, roles)


async def serve(args: argparse.Namespace) -> None:
    config = GatewayConfig(
        host=args.host,
        port=args.port,
        policy=args.policy,
        pd_threshold_tokens=args.pd_threshold,
        kv_events=not args.no_kv_events,
    )
    gateway = Gateway(config, discover=discovery_from(args))
    await serve_until_signalled(
        gateway.start, gateway.stop, lambda: f"gateway ({config.policy}) serving on {gateway.url}"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        asyncio.run(serve(args))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
