"""Pod → sandbox translation: env expansion, GPU ids and devices, hostPath read-only."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.node.sandbox._bwrap import bwrap_args
from dockyard.node.sandbox._plan import plan_pod
from dockyard.node.translate import gpu_devices, sandbox_spec_for
from dockyard.testing import make_pod


def bound(gpu_ids: str | None) -> dict:
    pod = make_pod("p").env(A="1", B="$(A)-x", C="$$(A)").build()
    pod["metadata"]["uid"] = "uid-1"
    pod["spec"]["nodeName"] = "n1"
    if gpu_ids is not None:
        pod["metadata"]["annotations"] = {"dockyard.dev/gpu-ids": gpu_ids}
    return pod


def test_env_expansion_follows_kubernetes() -> None:
    spec = sandbox_spec_for(bound(None), Path("/tmp/x"))
    assert spec.containers[0].env == {"A": "1", "B": "1-x", "C": "$(A)"}


@pytest.mark.parametrize(
    ("ids", "real", "visible", "devices"),
    [
        pytest.param("0,2", True, "0,2", ("/dev/nvidia0", "/dev/nvidia2"), id="real-gpus"),
        pytest.param("1", False, "1", (), id="virtual-gpus"),
        pytest.param(None, True, None, (), id="no-gpus"),
    ],
)
def test_gpu_assignment_reaches_the_sandbox(
    ids: str | None, real: bool, visible: str | None, devices: tuple[str, ...]
) -> None:
    spec = sandbox_spec_for(bound(ids), Path("/tmp/x"), real_gpus=real)
    assert spec.extra_env.get("CUDA_VISIBLE_DEVICES") == visible
    assert all(d in spec.devices for d in devices)
    assert bool(spec.devices) == bool(devices)


def test_devices_become_dev_binds(tmp_path: Path) -> None:
    spec = sandbox_spec_for(bound("3"), tmp_path / "state", real_gpus=True)
    args = bwrap_args(plan_pod(spec).bwrap)
    assert args[args.index("/dev/nvidia3") - 1 : args.index("/dev/nvidia3") + 2] == [
        "--dev-bind-try",
        "/dev/nvidia3",
        "/dev/nvidia3",
    ]
    assert "/dev/nvidiactl" in args


def test_gpu_devices_ignore_garbage() -> None:
    assert gpu_devices("a,") == ()
    assert gpu_devices("0")[-1] == "/dev/nvidia0"
