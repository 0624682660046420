"""Volumes through the unmodified E2B SDK: create, list, get, destroy; mounted into
sandboxes at create (a write in one sandbox is read in the next, and in one running beside
it), kept out of snapshots but mounted again into sandboxes started from them, woken with a
hibernated sandbox; refused while mounted; bad mounts and other tenants refused."""

from __future__ import annotations

import httpx
import pytest
from e2b import NotFoundException, Volume, VolumeException
from e2b import Sandbox as E2BSandbox
from e2b_code_interpreter import Sandbox

from dockyard.sandbox import extension

pytestmark = pytest.mark.usefixtures("e2b_env")


def test_a_volume_outlives_the_sandboxes_that_mount_it(e2b_http: httpx.Client) -> None:
    volume = Volume.create("shared-data")
    assert volume.name == "shared-data"
    assert [v.name for v in Volume.list()] == ["shared-data"]
    assert Volume.get_info(volume.volume_id).name == "shared-data"
    made: list[Sandbox] = []
    try:
        writer = Sandbox.create(timeout=60, volume_mounts={"/home/user/data": volume})
        made.append(writer)
        writer.commands.run("echo kept > /home/user/data/notes.txt; head -c 2M /dev/zero > "
                            "/home/user/data/big")  # fmt: skip
        beside = Sandbox.create(timeout=60, volume_mounts={"/mnt/data": "shared-data"})
        made.append(beside)
        assert beside.files.read("/mnt/data/notes.txt") == "kept\n"
        assert beside.commands.run("id -u; stat -c %u /mnt/data").stdout == "65534\n65534\n"
        # Below the home or in /mnt, /data or /workspace the nursery forks it; elsewhere
        # bubblewrap starts it. Either way the mount is nosuid and nodev, and the other
        # volumes stay out of sight.
        elsewhere = Sandbox.create(timeout=60, volume_mounts={"/srv/data": volume})
        made.append(elsewhere)
        assert elsewhere.files.read("/srv/data/notes.txt") == "kept\n"
        service = extension.service
        assert service is not None and service.nursery is not None
        for sandbox, forked in ((writer, True), (beside, True), (elsewhere, False)):
            box = service.records[sandbox.sandbox_id].box
            assert box is not None and service.nursery.cgroups.owns(box.cgroup) is forked
        for sandbox, path in (
            (writer, "/home/user/data"),
            (beside, "/mnt/data"),
            (elsewhere, "/srv/data"),
        ):
            options = sandbox.commands.run(f"findmnt -no OPTIONS {path}").stdout
            assert "nosuid" in options and "nodev" in options, options
        other = Volume.create("not-mounted")
        try:
            other.write_file("/secret.txt", "not yours")
            for sandbox in (writer, beside, elsewhere):
                peek = sandbox.commands.run(
                    f"cat /.dockyard/volumes/{other.volume_id}/secret.txt 2>&1; true"
                ).stdout
                assert "not yours" not in peek and "No such file" in peek, peek
        finally:
            Volume.destroy(other.volume_id)

        in_use = e2b_http.delete(f"/volumes/{volume.volume_id}")
        assert in_use.status_code == 409 and writer.sandbox_id in in_use.json()["message"]

        # Snapshots leave the volume's contents out and mount it again.
        info = writer.create_snapshot()
        assert extension.service is not None
        saved = extension.service.snapshots.find("acme", info.snapshot_id)
        assert saved is not None and saved.size_bytes < 1 << 20  # not the 2 MiB in the volume
        from_snapshot = Sandbox.create(info.snapshot_id, timeout=60)
        made.append(from_snapshot)
        assert from_snapshot.files.read("/home/user/data/notes.txt") == "kept\n"
        E2BSandbox.delete_snapshot(info.snapshot_id)

        # A hibernated sandbox wakes with its volume.
        assert e2b_http.post(f"/sandboxes/{beside.sandbox_id}/hibernate").status_code == 200
        woken = Sandbox.connect(beside.sandbox_id)
        assert woken.files.read("/mnt/data/notes.txt") == "kept\n"

        for sandbox in made:
            sandbox.kill()
        made.clear()
        later = Sandbox.create(timeout=60, volume_mounts={"/data": volume})
        made.append(later)
        assert later.commands.run("cat /data/notes.txt; stat -c %s /data/big").stdout == (
            "kept\n2097152\n"
        )
        later.kill()
        made.clear()
        assert Volume.destroy(volume.volume_id) is True
        assert Volume.destroy(volume.volume_id) is False
        assert Volume.list() == []
    finally:
        for sandbox in made:
            sandbox.kill()
        Volume.destroy(volume.volume_id)


def test_volume_files_through_the_sdk_meet_the_sandboxes_files(e2b_http: httpx.Client) -> None:
    volume = Volume.create("exchange")
    sandbox = None
    try:
        volume.write_file("/inbox/task.txt", "from the SDK", force=True)
        sandbox = Sandbox.create(timeout=60, volume_mounts={"/mnt/exchange": volume})
        assert sandbox.files.read("/mnt/exchange/inbox/task.txt") == "from the SDK"
        sandbox.commands.run("mkdir -p /mnt/exchange/out && echo done > /mnt/exchange/out/r.txt"
                             " && ln -s /etc/shadow /mnt/exchange/out/link")  # fmt: skip
        assert volume.read_file("/out/r.txt") == "done\n"
        listed = {e.path: e.type for e in volume.list("/", depth=2)}
        assert listed["/out/r.txt"].value == "file"
        assert listed["/out/link"].value == "symlink"
        with pytest.raises(VolumeException):  # never followed out of the volume
            volume.read_file("/out/link")
        assert volume.get_info("/out/r.txt").uid == 65534
        volume.remove("/out")
        assert sandbox.commands.run("ls /mnt/exchange").stdout == "inbox\n"
        # Another volume's token does not open this one.
        other = Volume.create("other")
        stranger = Volume(volume_id=volume.volume_id, name="x", token=other.token)
        with pytest.raises(NotFoundException):  # as for an unknown volume
            stranger.read_file("/inbox/task.txt")
        Volume.destroy(other.volume_id)
    finally:
        if sandbox is not None:
            sandbox.kill()
        Volume.destroy(volume.volume_id)


def test_bad_mounts_and_other_tenants_are_refused(e2b_http: httpx.Client, other_key: str) -> None:
    volume = Volume.create("mine")
    try:
        assert e2b_http.post("/volumes", json={"name": "mine"}).status_code == 409
        reply = e2b_http.post("/volumes", json={"name": "../x"})
        assert reply.status_code == 400 and "name" in reply.json()["message"]
        for mounts, field in (
            ([{"name": "mine", "path": "/etc"}], "volumeMounts[0].path"),
            ([{"name": "mine", "path": "data"}], "volumeMounts[0].path"),
            ([{"name": "mine", "path": "/home/user/../x"}], "volumeMounts[0].path"),
            ([{"name": "nope", "path": "/data"}], "volumeMounts[0].name"),
            ([{"name": "mine", "path": "/a"}, {"name": "mine", "path": "/a"}],
             "volumeMounts[1].path"),
            ([{"name": "mine", "path": "/mnt/a"}, {"name": "mine", "path": "/mnt/a/b"}],
             "volumeMounts[1].path"),
            ("mine", "volumeMounts"),
        ):  # fmt: skip
            reply = e2b_http.post("/sandboxes", json={"templateID": "base",
                                                      "volumeMounts": mounts})  # fmt: skip
            assert reply.status_code == 400, reply.text
            assert field in reply.json()["message"], reply.text
        with httpx.Client(
            base_url=str(e2b_http.base_url), headers={"X-API-Key": other_key}, timeout=30
        ) as other:
            assert other.get("/volumes").json() == []
            assert other.get(f"/volumes/{volume.volume_id}").status_code == 404
            assert other.delete(f"/volumes/{volume.volume_id}").status_code == 404
            theirs = other.post("/sandboxes", json={
                "templateID": "base", "volumeMounts": [{"name": "mine", "path": "/data"}]})  # fmt: skip
            assert theirs.status_code == 400
        # Nothing refused was kept.
        assert [v["name"] for v in e2b_http.get("/volumes").json()] == ["mine"]
    finally:
        Volume.destroy(volume.volume_id)
