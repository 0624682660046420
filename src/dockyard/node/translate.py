"""Pod → sandbox: turn a bound Pod object into the executor's :class:`PodSandboxSpec`.

This is where Kubernetes semantics become process semantics: env ``valueFrom.fieldRef`` is
resolved, GPU device ids assigned by the scheduler become ``CUDA_VISIBLE_DEVICES``, and
resource limits become cgroup limits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dockyard.api.annotations import GPU_ENV as GPU_ENV_ANNOTATION
from dockyard.api.annotations import GPU_IDS as GPU_IDS_ANNOTATION
from dockyard.api.resources import pod_limits
from dockyard.node.sandbox import (
    ContainerSpec,
    PodSandboxSpec,
    SandboxLimits,
    VolumeMountSpec,
    VolumeSpec,
)

DEFAULT_PIDS_LIMIT = 1024


def _gpu_env(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    try:
        env = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(env, dict):
        return {}
    return {str(k): str(v) for k, v in env.items() if str(k).startswith(("CUDA_", "DOCKYARD_GPU_"))}


def _field_value(pod: dict[str, Any], path: str) -> str:
    meta = pod["metadata"]
    if path == "metadata.name":
        return str(meta["name"])
    if path == "metadata.namespace":
        return str(meta.get("namespace", ""))
    if path == "metadata.uid":
        return str(meta["uid"])
    if path == "spec.nodeName":
        return str(pod["spec"].get("nodeName", ""))
    for prefix, source in (
        ("metadata.labels['", "labels"),
        ("metadata.annotations['", "annotations"),
    ):
        if path.startswith(prefix):
            return str((meta.get(source) or {}).get(path[len(prefix) : -2], ""))
    return ""


def _env(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for var in container.get("env") or []:
        if "valueFrom" in var:
            env[var["name"]] = _field_value(pod, var["valueFrom"]["fieldRef"]["fieldPath"])
        else:
            env[var["name"]] = _expand(var.get("value") or "", env)
    return env


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion against earlier variables; ``$$`` escapes."""
    out, i = "", 0
    while i < len(value):
        if value.startswith("$$", i):
            out += "$"
            i += 2
        elif value.startswith("$(", i) and ")" in value[i:]:
            end = value.index(")", i)
            name = value[i + 2 : end]
            out += env.get(name, value[i : end + 1])
            i = end + 1
        else:
            out += value[i]
            i += 1
    return out


def _container(pod: dict[str, Any], container: dict[str, Any]) -> ContainerSpec:
    env = _env(pod, container)
    return ContainerSpec(
        name=container["name"],
        image=container["image"],
        command=[_expand(a, env) for a in container.get("command") or []],
        args=[_expand(a, env) for a in container.get("args") or []],
        env=env,
        working_dir=container.get("workingDir"),
        mounts=[
            VolumeMountSpec(
                name=m["name"],
                mount_path=m["mountPath"],
                read_only=bool(m["readOnly"]) if m.get("readOnly") is not None else False,
            )
            for m in container.get("volumeMounts") or []
        ],
    )


def _volumes(pod: dict[str, Any]) -> list[VolumeSpec]:
    spec = pod["spec"]
    # A hostPath volume is read-only unless every mount of it says readOnly: false.
    writable: dict[str, bool] = {}
    for container in [*(spec.get("initContainers") or []), *spec["containers"]]:
        for mount in container.get("volumeMounts") or []:
            explicit_rw = mount.get("readOnly") is False
            writable[mount["name"]] = writable.get(mount["name"], True) and explicit_rw
    volumes = []
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            volumes.append(
                VolumeSpec(
                    name=volume["name"],
                    kind="hostPath",
                    host_path=volume["hostPath"]["path"],
                    read_only=not writable.get(volume["name"], False),
                )
            )
        else:
            volumes.append(VolumeSpec(name=volume["name"], kind="emptyDir"))
    return volumes


# Device nodes every CUDA process needs besides its GPUs' own /dev/nvidiaN.
NVIDIA_CONTROL_DEVICES = (
    "/dev/nvidiactl",
    "/dev/nvidia-uvm",
    "/dev/nvidia-uvm-tools",
    "/dev/nvidia-modeset",
)


def gpu_devices(gpu_ids: str) -> tuple[str, ...]:
    """Host device nodes for the GPUs ``"0,2"`` of a real (non-virtual) node."""
    ids = [i.strip() for i in gpu_ids.split(",") if i.strip().isdigit()]
    if not ids:
        return ()
    return (*NVIDIA_CONTROL_DEVICES, *(f"/dev/nvidia{i}" for i in ids))


def sandbox_spec_for(
    pod: dict[str, Any], state_dir: Path, real_gpus: bool = False
) -> PodSandboxSpec:
    """The sandbox for ``pod``. ``real_gpus``: the Pod's node has physical GPUs, so the
    assigned devices are bound into the sandbox (virtual GPUs only get the ids)."""
    spec = pod["spec"]
    meta = pod["metadata"]
    limits = pod_limits(spec)
    extra_env = {
        "DOCKYARD_POD_NAME": meta["name"],
        "DOCKYARD_POD_NAMESPACE": meta.get("namespace", "default"),
        "DOCKYARD_NODE_NAME": spec.get("nodeName", ""),
    }
    annotations = meta.get("annotations") or {}
    gpu_ids = annotations.get(GPU_IDS_ANNOTATION)
    if gpu_ids is not None:
        extra_env["CUDA_VISIBLE_DEVICES"] = gpu_ids
        extra_env["NVIDIA_VISIBLE_DEVICES"] = gpu_ids
    # The scheduler's GPU environment (device ids, the share of each device, GPU memory).
    extra_env.update(_gpu_env(annotations.get(GPU_ENV_ANNOTATION)))
    return PodSandboxSpec(
        pod_uid=meta["uid"],
        pod_name=meta["name"],
        state_dir=state_dir,
        init_containers=[_container(pod, c) for c in spec.get("initContainers") or []],
        containers=[_container(pod, c) for c in spec["containers"]],
        volumes=_volumes(pod),
        restart_policy=spec.get("restartPolicy", "Always"),
        network=bool(spec.get("hostNetwork")),
        limits=SandboxLimits(
            memory_bytes=limits.get("memory"),
            cpu_millis=limits.get("cpu"),
            pids=DEFAULT_PIDS_LIMIT,
        ),
        hostname=spec.get("hostname") or meta["name"][:63],
        extra_env=extra_env,
        devices=gpu_devices(gpu_ids) if real_gpus and gpu_ids else (),
    )
