"""Dockyard serving: LLM inference on Dockyard.

* :mod:`dockyard.serving.engine` — an engine emulator that behaves like vLLM/SGLang (standard
  library only, so it also runs inside a Pod sandbox);
* :mod:`dockyard.serving.gateway` — the OpenAI-compatible gateway and its routing policies;
* :mod:`dockyard.serving.groups` — RoleBasedGroup and InferencePool kinds and the controller;
* :mod:`dockyard.serving.bench` — ``dockyard bench gateway`` and ``bench gateway-overhead``;
* :mod:`dockyard.serving.extension` — what the control plane installs.

This package's ``__init__`` imports nothing, so the engine emulator stays importable on a
bare interpreter.
"""
