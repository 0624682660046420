"""What the sandbox service stores validates against the kinds it registers: a Sandbox
(with volume mounts, auto-resume and a pause time), a SandboxSnapshot and a SandboxVolume,
so the Dockyard API can read, update and re-apply them."""

from __future__ import annotations

from pathlib import Path

from dockyard.sandbox._kinds import Sandbox, SandboxSnapshot, SandboxVolume
from dockyard.sandbox._service import Record
from dockyard.sandbox._snapshots import Snapshot
from dockyard.sandbox._templates import Shape
from dockyard.sandbox._volumes import Mount, Volume

SHAPE = Shape("base", 1000, 512 << 20, 1 << 30, 256)
MOUNTS = (Mount("vabc", "data", "/home/user/data"),)


def test_a_sandbox_record_is_a_valid_sandbox() -> None:
    record = Record(
        "iabc", SHAPE, Path("/run/x"), tenant="acme", phase="Paused", auto_pause=True,
        auto_resume=True, paused_at=1_790_000_000.5, mounts=MOUNTS,
    )  # fmt: skip
    sandbox = Sandbox.model_validate(record.to_object())
    assert sandbox.spec.auto_resume and sandbox.status.paused_at
    assert sandbox.spec.volume_mounts[0].path == "/home/user/data"


def test_a_snapshot_and_a_volume_are_valid_kinds() -> None:
    snapshot = Snapshot("sabc", "acme", "iabc", SHAPE, "sabc-1.tar", names=("n",), mounts=MOUNTS)
    stored = SandboxSnapshot.model_validate(snapshot.to_object())
    assert stored.spec.archive == "sabc-1.tar"
    assert Snapshot.from_object(snapshot.to_object()) == snapshot
    volume = Volume("vabc", "acme", "data", "token", 1_790_000_000.25)
    assert SandboxVolume.model_validate(volume.to_object()).spec.name == "data"
    assert Volume.from_object(volume.to_object()) == volume
