"""Engine runtime profiles: what a role's main container runs for each engine.

Serving layer. ``emulator`` runs Dockyard's engine emulator from the
``dockyard/engine-emulator`` image (mapped onto the host's python3 with the emulator package
bound read-only, see :func:`emulator_image`); ``vllm`` and ``sglang`` produce the command
lines those servers take on GPU nodes, with their disaggregation flags for prefill and
decode roles. Every profile listens on ``$(PORT)``, which the controller sets per Pod.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from dockyard.node.sandbox import ImageRuntime, resolve_image
from dockyard.serving.groups.api import EngineRuntime, Role

EMULATOR_IMAGE = "dockyard/engine-emulator"
ENGINE_MOUNT = "/opt/dockyard"


def engine_role(role: Role, runtime: EngineRuntime) -> str:
    if runtime.engine_role:
        return runtime.engine_role
    return role.name if role.name in ("prefill", "decode") else "both"


def command_line(role: Role, runtime: EngineRuntime) -> tuple[list[str], str | None]:
    """(argv, image or None to keep the template's) for the role's main container."""
    kind = engine_role(role, runtime)
    extra = list(runtime.args or [])
    if runtime.profile_name == "emulator":
        argv = [
            "python3",
            "-m",
            "dockyard_engine",
            "--host",
            "127.0.0.1",
            "--port",
            "$(PORT)",
            "--role",
            kind,
        ]
        if runtime.model:
            argv += ["--model", runtime.model]
        return argv + extra, EMULATOR_IMAGE
    model = runtime.model or "meta-llama/Llama-3.1-8B-Instruct"
    if runtime.profile_name == "vllm":
        argv = ["vllm", "serve", model, "--host", "0.0.0.0", "--port", "$(PORT)"]
        if kind != "both":
            argv += ["--kv-transfer-config", '{"kv_connector":"NixlConnector","kv_role":"kv_both"}']
        return argv + extra, None
    argv = [
        "python3",
        "-m",
        "sglang.launch_server",
        "--model-path",
        model,
        "--host",
        "0.0.0.0",
        "--port",
        "$(PORT)",
    ]
    if kind != "both":
        argv += ["--disaggregation-mode", kind]
    return argv + extra, None


def apply_runtime(role: Role, container: dict[str, Any]) -> None:
    """Rewrite ``container`` (the template's first) for the role's first engine runtime."""
    if not role.engine_runtimes:
        return
    argv, image = command_line(role, role.engine_runtimes[0])
    container["command"] = argv
    container.pop("args", None)
    if image is not None:
        container["image"] = image


def emulator_image() -> ImageRuntime:
    """The ``dockyard/engine-emulator`` image: host python3 + the emulator package, read-only.

    The emulator imports only the standard library, so the bare system interpreter runs it;
    its package directory is bound at ``/opt/dockyard/dockyard_engine``.
    """
    python = resolve_image("python")
    package = Path(__file__).resolve().parents[1] / "engine"
    return dataclasses.replace(
        python,
        name="engine-emulator",
        description=f"Dockyard engine emulator on {python.description}",
        cmd=("python3", "-m", "dockyard_engine"),
        ro_binds=(*python.ro_binds, (str(package), f"{ENGINE_MOUNT}/dockyard_engine")),
        env=(*python.env, ("PYTHONPATH", ENGINE_MOUNT), ("PYTHONDONTWRITEBYTECODE", "1")),
    )
