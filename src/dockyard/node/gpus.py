"""GPU discovery for this node.

Node layer. The node agent calls `discover_gpus()` once at start-up to advertise the node's
GPUs (and hands out their indexes to Pods through `CUDA_VISIBLE_DEVICES`). It asks NVML
through `pynvml` when that is importable, else `nvidia-smi`, and reports no GPUs when
neither works: a node without NVIDIA drivers is a normal CPU node, not an error.
"""

from __future__ import annotations

import importlib
import logging
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

NVIDIA_SMI_QUERY = (
    "--query-gpu=index,uuid,name,memory.total",
    "--format=csv,noheader,nounits",
)
_SMI_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class GpuDevice:
    index: int
    uuid: str
    model: str
    memory_mib: int


def discover_gpus(
    nvml: Callable[[], list[GpuDevice]] | None = None,
    nvidia_smi: Callable[[], str | None] | None = None,
) -> list[GpuDevice]:
    """The node's GPUs, by index. `nvml` and `nvidia_smi` replace the real probes in tests
    (the latter returns the CSV output of `nvidia-smi`, or None when it cannot run)."""
    try:
        gpus = (nvml or _from_nvml)()
        if gpus:
            return gpus
    except Exception as exc:  # NVML raises its own error types; any failure means "try smi"
        log.debug("NVML unavailable: %s", exc)
    output = (nvidia_smi or _run_nvidia_smi)()
    return parse_nvidia_smi(output) if output else []


def parse_nvidia_smi(output: str) -> list[GpuDevice]:
    """Parse `nvidia-smi --query-gpu=index,uuid,name,memory.total --format=csv,noheader,
    nounits`; malformed lines are skipped with a warning."""
    gpus: list[GpuDevice] = []
    for line in output.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4:
            log.warning("unexpected nvidia-smi line: %r", line)
            continue
        index, uuid, memory = parts[0], parts[1], parts[-1]
        model = ", ".join(parts[2:-1])  # model names may contain commas
        try:
            gpus.append(GpuDevice(int(index), uuid, model, int(float(memory))))
        except ValueError:
            log.warning("unexpected nvidia-smi line: %r", line)
    return sorted(gpus, key=lambda g: g.index)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _from_nvml() -> list[GpuDevice]:
    try:
        nvml: Any = importlib.import_module("pynvml")
    except ImportError:
        return []
    nvml.nvmlInit()
    try:
        gpus = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append(
                GpuDevice(
                    index=index,
                    uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
                    model=_text(nvml.nvmlDeviceGetName(handle)),
                    memory_mib=int(memory.total) // (1 << 20),
                )
            )
        return gpus
    finally:
        nvml.nvmlShutdown()


def _run_nvidia_smi() -> str | None:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        done = subprocess.run(
            [smi, *NVIDIA_SMI_QUERY],
            capture_output=True,
            text=True,
            timeout=_SMI_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("nvidia-smi failed: %s", exc)
        return None
    if done.returncode != 0:
        log.warning("nvidia-smi exited with %d: %s", done.returncode, done.stderr.strip())
        return None
    return done.stdout
