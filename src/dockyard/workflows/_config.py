"""Controller settings from ``<data-dir>/workflow-controller.yaml`` (optional).

Workflows layer. The file plays the part of Argo's workflow-controller ConfigMap::

    parallelism: 100            # workflows running at once; the rest wait in priority order
    semaphores:                 # limits for synchronization.semaphore(s)
      my-config/workflow: 2     # <configMapKeyRef.name>/<configMapKeyRef.key>: limit
    rayAddress: 10.0.0.5:6379   # Ray cluster for steps that ask for Ray (else a local Ray)
    executor: simulated         # steps finish at once with exit 0 (default: pods)

``executor: simulated`` keeps the controller, store and scheduler path and leaves only the
step process out (see :mod:`._simulated`); it is for measuring the engine at scale.

``dockyard up --ray-address`` (``DOCKYARD_RAY_ADDRESS``) takes precedence over
``rayAddress``.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from dockyard.workflows._controller import ControllerConfig
from dockyard.workflows._simulated import EXECUTORS

CONFIG_FILE = "workflow-controller.yaml"


def load_config(data_dir: Path) -> ControllerConfig:
    path = Path(data_dir) / CONFIG_FILE
    ray_address = os.environ.get("DOCKYARD_RAY_ADDRESS") or None
    if not path.exists():
        return ControllerConfig(ray_address=ray_address)
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping")
    parallelism = raw.get("parallelism")
    semaphores = {str(k): int(v) for k, v in (raw.get("semaphores") or {}).items()}
    executor = str(raw.get("executor") or "pods")
    if executor not in EXECUTORS:
        raise ValueError(
            f"{path}: executor must be one of {', '.join(EXECUTORS)}, not {executor!r}"
        )
    return ControllerConfig(
        executor=executor,
        parallelism=int(parallelism) if parallelism else None,
        semaphores=semaphores,
        ray_address=ray_address or (str(raw["rayAddress"]) if raw.get("rayAddress") else None),
    )
