"""``python3 -m dockyard_engine`` (in a sandbox) or ``python -m dockyard.serving.engine``:
run one emulated engine until SIGTERM/SIGINT. Standard library only."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from ._http import serve_until_signalled
from .batching import EngineConfig
from .profile import PROFILES
from .server import EngineServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dockyard-engine", description="Emulated LLM engine.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    p.add_argument("--model", default="emulated-llama-2-7b")
    p.add_argument("--kv-blocks", type=int, default=4096, help="KV blocks of 16 tokens")
    p.add_argument("--max-num-seqs", type=int, default=256)
    p.add_argument("--max-batched-tokens", type=int, default=2048)
    p.add_argument("--max-model-len", type=int, default=65536)
    p.add_argument("--time-scale", type=float, default=1.0, help="run this many times faster")
    p.add_argument("--profile", choices=sorted(PROFILES), default="h100-llama2-7b")
    p.add_argument("--role", choices=["both", "prefill", "decode"], default="both")
    return p.parse_args(argv)


def config_from(args: argparse.Namespace) -> EngineConfig:
    return EngineConfig(
        model=args.model,
        num_blocks=args.kv_blocks,
        max_num_seqs=args.max_num_seqs,
        max_batched_tokens=args.max_batched_tokens,
        max_model_len=args.max_model_len,
        time_scale=args.time_scale,
        profile=PROFILES[args.profile],
        role=args.role,
    )


async def serve(config: EngineConfig, host: str, port: int) -> None:
    server = EngineServer(config, host, port)
    await serve_until_signalled(
        server.start,
        server.stop,
        lambda: f"engine emulator serving {config.model} ({config.role}) on {server.url}",
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        asyncio.run(serve(config_from(args), args.host, args.port))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
