"""The engine emulator: an asyncio HTTP server that behaves like a vLLM (and SGLang) engine.

Serving layer. This package imports only the Python standard library and its own modules,
so it runs on a bare system ``python3`` inside a Pod sandbox: the ``dockyard/engine-emulator``
image binds this directory read-only at ``/opt/dockyard/dockyard_engine`` and runs
``python3 -m dockyard_engine``. Outside a sandbox, ``dockyard serve emulate`` runs the same code.
"""

from .batching import Engine, EngineConfig
from .profile import H100_LLAMA2_7B, PROFILES, ZERO, StepProfile
from .server import EngineServer

__all__ = [
    "H100_LLAMA2_7B",
    "PROFILES",
    "ZERO",
    "Engine",
    "EngineConfig",
    "EngineServer",
    "StepProfile",
]
