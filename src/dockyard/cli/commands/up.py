"""``dockyard up``: run the embedded control plane and local node in the foreground.

The server package is imported only here, when the command runs, so the rest of the CLI
works (and imports) against a remote server without it. Ctrl-C or SIGTERM stops the
control plane, which stops its Pods before returning.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Annotated

import typer

from dockyard.cli._context import state_of
from dockyard.cli._errors import CliError
from dockyard.client import resolve_data_dir


def up(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="Port.")] = 7420,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="State, logs and the API token (default: global --data-dir, "
            "$DOCKYARD_DATA_DIR, ~/.dockyard).",
        ),
    ] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Accept requests without a token (loopback only).")
    ] = False,
    tls: Annotated[bool, typer.Option("--tls", help="Serve HTTPS.")] = False,
    virtual_nodes: Annotated[
        int, typer.Option("--virtual-nodes", min=0, help="Emulated nodes to add.")
    ] = 0,
    virtual_gpus: Annotated[
        int, typer.Option("--virtual-gpus", min=0, help="Emulated GPUs per virtual node.")
    ] = 0,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="Ray cluster for workflow steps that ask for Ray (default: a local Ray "
            "started on demand).",
        ),
    ] = None,
) -> None:
    """Run the Dockyard control plane and this machine as a node, until Ctrl-C."""
    try:
        server = importlib.import_module("dockyard.server")
        config_type, run_control_plane = server.ControlPlaneConfig, server.run_control_plane
    except (ImportError, AttributeError) as exc:
        raise CliError(f"this installation has no embedded control plane: {exc}") from None
    config = config_type(
        host=host,
        port=port,
        data_dir=resolve_data_dir(data_dir or state_of(ctx).data_dir),
        no_auth=no_auth,
        tls=tls,
        virtual_nodes=virtual_nodes,
        virtual_gpus=virtual_gpus,
    )
    if ray_address:
        os.environ["DOCKYARD_RAY_ADDRESS"] = ray_address
    try:
        run_control_plane(config)
    except (ValueError, OSError) as exc:
        raise CliError(f"cannot start the control plane: {exc}") from None
