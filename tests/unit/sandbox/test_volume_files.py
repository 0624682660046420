"""`VolumeFiles`: every operation of the volume content API on a real directory tree, and
the escapes an untrusted sandbox could plant in a volume (links out, ``..``, hard links,
directories swapped for links) failing without touching anything outside the volume."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.node.sandbox.isolation import SANDBOX_GID, SANDBOX_UID
from dockyard.sandbox import _volume_files as volume_files
from dockyard.sandbox._volume_files import (
    MAX_DEPTH,
    VolumeFileError,
    VolumeFiles,
    remove_tree,
    split_path,
)


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    root = tmp_path / "volume"
    root.mkdir()
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the volume holding a file nothing may reach through it."""
    directory = tmp_path / "outside"
    directory.mkdir()
    secret = directory / "secret"
    secret.write_bytes(b"do not touch")
    os.chmod(secret, 0o600)
    return directory


@pytest.fixture
def files(volume: Path) -> VolumeFiles:
    return VolumeFiles(volume)


def snapshot(directory: Path) -> dict[str, tuple[bytes | None, int, int, int, int]]:
    """Content, mode, owner and modification time of everything under `directory`."""
    out: dict[str, tuple[bytes | None, int, int, int, int]] = {}
    for path in sorted(directory.rglob("*")):
        info = path.lstat()
        content = path.read_bytes() if stat.S_ISREG(info.st_mode) else None
        out[str(path)] = (content, info.st_mode, info.st_uid, info.st_gid, info.st_mtime_ns)
    return out


def read(files: VolumeFiles, path: str) -> bytes:
    return b"".join(files.read_chunks(path, chunk_size=3))


def status_of(call: object, *args: object, **kwargs: object) -> int:
    assert callable(call)
    with pytest.raises(VolumeFileError) as caught:
        result = call(*args, **kwargs)
        if isinstance(result, Iterator):
            list(result)
    return caught.value.status


# -- paths -------------------------------------------------------------------------


def test_paths_are_volume_relative_and_refuse_parent_and_nul() -> None:
    assert split_path("/") == []
    assert split_path("") == []
    assert split_path("./a//b/") == ["a", "b"]
    assert split_path("/a/./b") == ["a", "b"]
    for bad in ("..", "/a/../b", "a/..", "a\0b"):
        with pytest.raises(VolumeFileError) as caught:
            split_path(bad)
        assert caught.value.status == 400
        assert caught.value.message.startswith("path:")


# -- operations --------------------------------------------------------------------


def test_write_then_read_stat_with_default_owner_and_mode(files: VolumeFiles) -> None:
    entry = files.write("/notes.txt", [b"hello ", b"volume"])
    assert (entry.name, entry.type, entry.path, entry.size) == (
        "notes.txt",
        "file",
        "/notes.txt",
        12,
    )
    assert (entry.uid, entry.gid, entry.mode) == (SANDBOX_UID, SANDBOX_GID, 0o644)
    assert entry.target is None
    assert files.stat("notes.txt") == entry
    assert read(files, "notes.txt") == b"hello volume"
    body = entry.as_json()
    assert body["type"] == "file" and "target" not in body
    assert body["mtime"].endswith("+00:00")


def test_write_replaces_keeping_owner_and_mode_unless_given(files: VolumeFiles) -> None:
    files.write("f", [b"one"], uid=1000, gid=1001, mode=0o600)
    again = files.write("f", [b"two!"])
    assert (again.uid, again.gid, again.mode, again.size) == (1000, 1001, 0o600, 4)
    third = files.write("f", [b"3"], mode=0o640)
    assert third.mode == 0o640
    assert read(files, "f") == b"3"


def test_write_needs_its_parent_unless_forced(files: VolumeFiles, volume: Path) -> None:
    assert status_of(files.write, "a/b/c.txt", [b"x"]) == 404
    entry = files.write("a/b/c.txt", [b"x"], force=True)
    assert entry.path == "/a/b/c.txt"
    for made in ("a", "a/b"):
        info = (volume / made).stat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (
            SANDBOX_UID,
            SANDBOX_GID,
            0o755,
        )


def test_write_refuses_directories_root_and_bad_parameters(files: VolumeFiles) -> None:
    files.make_dir("d")
    assert status_of(files.write, "d", [b"x"]) == 409
    assert status_of(files.write, "/", [b"x"]) == 400
    assert status_of(files.write, "f", [b"x"], mode=0o4755) == 400
    assert status_of(files.write, "f", [b"x"], uid=-1) == 400
    assert status_of(files.write, "f", [b"x"], gid=2**32) == 400
    assert [e.name for e in files.list_dir("/")] == ["d"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    files: VolumeFiles, volume: Path
) -> None:
    files.write("f", [b"old"])

    def broken() -> Iterator[bytes]:
        yield b"new partial"
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError):
        files.write("f", broken())
    assert read(files, "f") == b"old"
    assert sorted(os.listdir(volume)) == ["f"]
    pending = files.begin_write("g")
    pending.write(b"never committed")
    pending.abort()
    assert sorted(os.listdir(volume)) == ["f"]


def test_make_dir(files: VolumeFiles) -> None:
    entry = files.make_dir("/d", uid=1000, gid=1000, mode=0o700)
    assert (entry.type, entry.path, entry.uid, entry.gid, entry.mode, entry.size) == (
        "directory",
        "/d",
        1000,
        1000,
        0o700,
        0,
    )
    assert status_of(files.make_dir, "d") == 409
    assert files.make_dir("d", force=True).mode == 0o700  # an existing one is left alone
    assert status_of(files.make_dir, "x/y") == 404
    nested = files.make_dir("x/y/z", force=True)
    assert (nested.uid, nested.mode) == (SANDBOX_UID, 0o755)
    files.write("f", [b""])
    assert status_of(files.make_dir, "f", force=True) == 409
    assert status_of(files.make_dir, "f/sub", force=True) == 400
    assert status_of(files.make_dir, "/") == 409
    assert files.make_dir("/", force=True).path == "/"
    assert status_of(files.make_dir, "m", mode=0o2755) == 400


def test_list_dir_by_depth(files: VolumeFiles, volume: Path) -> None:
    files.write("b/inner/deep.txt", [b"1"], force=True)
    files.write("a.txt", [b"22"])
    os.symlink("a.txt", volume / "c-link")
    top = files.list_dir("/")
    assert [(e.path, e.type) for e in top] == [
        ("/a.txt", "file"),
        ("/b", "directory"),
        ("/c-link", "symlink"),
    ]
    assert top[2].target == "a.txt"
    assert top[2].as_json()["target"] == "a.txt"
    assert [e.path for e in files.list_dir("/", depth=2)] == [
        "/a.txt",
        "/b",
        "/b/inner",
        "/c-link",
    ]
    assert [e.path for e in files.list_dir("b", depth=5)] == ["/b/inner", "/b/inner/deep.txt"]
    assert files.list_dir("b/inner")[0].name == "deep.txt"
    assert status_of(files.list_dir, "a.txt") == 400
    assert status_of(files.list_dir, "missing") == 404
    assert status_of(files.list_dir, "/", depth=0) == 400


def test_listing_and_removal_bounds(
    files: VolumeFiles, volume: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert status_of(files.list_dir, "/", depth=volume_files.MAX_DEPTH + 1) == 400
    for index in range(5):
        files.write(f"f{index}", [b""])
    monkeypatch.setattr(volume_files, "MAX_ENTRIES", 4)
    assert status_of(files.list_dir, "/") == 400
    monkeypatch.setattr(volume_files, "MAX_ENTRIES", 5)
    assert len(files.list_dir("/")) == 5
    monkeypatch.setattr(volume_files, "MAX_DEPTH", 3)
    files.make_dir("t/1/2/3", force=True)
    assert status_of(files.remove, "t") == 400
    files.remove("t/1/2/3")
    files.remove("t")
    assert not (volume / "t").exists()


def test_stat(files: VolumeFiles, volume: Path) -> None:
    root = files.stat("/")
    assert (root.type, root.path, root.name) == ("directory", "/", "/")
    assert status_of(files.stat, "missing") == 404
    assert status_of(files.stat, "missing/deeper") == 404
    os.mkfifo(volume / "pipe")
    assert files.stat("pipe").type == "unknown"
    assert status_of(files.read_chunks, "pipe") == 400  # and does not hang


def test_remove(files: VolumeFiles, volume: Path) -> None:
    files.write("d/e/f", [b"x"], force=True)
    files.write("g", [b"x"])
    files.remove("g")
    files.remove("/d")
    assert os.listdir(volume) == []
    assert status_of(files.remove, "g") == 404
    assert status_of(files.remove, "/") == 400


def test_update_owner_and_mode(files: VolumeFiles) -> None:
    files.write("f", [b"x"])
    entry = files.update("f", uid=1234)
    assert (entry.uid, entry.gid, entry.mode) == (1234, SANDBOX_GID, 0o644)
    entry = files.update("f", gid=99, mode=0o600)
    assert (entry.uid, entry.gid, entry.mode) == (1234, 99, 0o600)
    files.make_dir("d")
    assert files.update("d", mode=0o1777).mode == 0o1777
    assert files.update("/", mode=0o755).type == "directory"
    assert status_of(files.update, "f", mode=0o4755) == 400
    assert status_of(files.update, "missing", mode=0o600) == 404


# -- escapes -----------------------------------------------------------------------


def every_operation(files: VolumeFiles, path: str) -> dict[str, int]:
    """The status each operation on `path` fails with (0 where it succeeded)."""
    calls = {
        "stat": lambda: files.stat(path),
        "list": lambda: files.list_dir(path),
        "read": lambda: read(files, path),
        "write": lambda: files.write(path, [b"pwned"]),
        "write-force": lambda: files.write(path, [b"pwned"], force=True),
        "make_dir": lambda: files.make_dir(path, force=True),
        "update": lambda: files.update(path, mode=0o777, uid=0),
        "remove": lambda: files.remove(path),
    }
    statuses: dict[str, int] = {}
    for name, call in calls.items():
        try:
            call()
            statuses[name] = 0
        except VolumeFileError as exc:
            statuses[name] = exc.status
    return statuses


@pytest.mark.parametrize("absolute", [True, False])
def test_a_link_out_as_a_component_is_never_followed(
    files: VolumeFiles, volume: Path, outside: Path, absolute: bool
) -> None:
    os.symlink(outside if absolute else "../outside", volume / "link")
    before = snapshot(outside)
    for path in ("link/secret", "/link/new", "link/sub/new"):
        assert set(every_operation(files, path).values()) == {400}, path
    assert snapshot(outside) == before
    assert files.stat("link").type == "symlink"


def test_a_link_out_as_the_final_entry_is_described_not_followed(
    files: VolumeFiles, volume: Path, outside: Path
) -> None:
    os.symlink(outside / "secret", volume / "leak")
    os.symlink("/etc", volume / "etc")
    before = snapshot(outside)
    entry = files.stat("leak")
    assert (entry.type, entry.target) == ("symlink", str(outside / "secret"))
    statuses = every_operation(files, "leak")
    # stat describes the link; remove (last) unlinks the link itself
    assert statuses == {
        "stat": 0,
        "list": 400,
        "read": 400,
        "write": 400,
        "write-force": 400,
        "make_dir": 409,
        "update": 400,
        "remove": 0,
    }
    assert not (volume / "leak").is_symlink()
    assert snapshot(outside) == before
    assert status_of(files.read_chunks, "etc/shadow") == 400
    assert status_of(files.list_dir, "etc") == 400


def test_parent_references_are_refused(files: VolumeFiles, outside: Path) -> None:
    files.make_dir("a")
    before = snapshot(outside)
    for path in ("../outside/secret", "a/../../outside/secret", "/../outside"):
        assert set(every_operation(files, path).values()) == {400}, path
    assert snapshot(outside) == before


def test_a_directory_swapped_for_a_link_after_listing(
    files: VolumeFiles, volume: Path, outside: Path
) -> None:
    files.write("d/x", [b"inside"], force=True)
    assert [e.path for e in files.list_dir("d")] == ["/d/x"]
    (volume / "d" / "x").unlink()
    (volume / "d").rmdir()
    os.symlink(outside, volume / "d")
    before = snapshot(outside)
    assert status_of(files.read_chunks, "d/secret") == 400
    assert status_of(files.write, "d/secret", [b"pwned"]) == 400
    assert status_of(files.list_dir, "d") == 400
    assert [e.type for e in files.list_dir("/", depth=3)] == ["symlink"]
    files.remove("d")
    assert snapshot(outside) == before
    assert (outside / "secret").read_bytes() == b"do not touch"


def test_a_hard_link_to_a_file_outside_is_replaced_never_changed(
    files: VolumeFiles, volume: Path, outside: Path
) -> None:
    os.link(outside / "secret", volume / "hard")
    before = snapshot(outside)
    assert status_of(files.update, "hard", mode=0o777) == 400
    assert status_of(files.update, "hard", uid=0) == 400
    files.write("hard", [b"replaced"])
    assert read(files, "hard") == b"replaced"
    assert snapshot(outside) == before
    os.link(outside / "secret", volume / "hard2")
    files.remove("hard2")
    assert snapshot(outside) == before


def test_a_whole_volume_goes_however_deep_and_nothing_outside(tmp_path: Path) -> None:
    volumes = tmp_path / "volumes"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("kept")
    deep = volumes / "v1"
    path = deep
    for level in range(3 * MAX_DEPTH + 5):  # deeper than one removal may go
        path = path / f"d{level}"
        if level % 50 == 0:
            (path.parent / f"side{level}").mkdir(parents=True)
    path.mkdir(parents=True)
    (path / "bottom.txt").write_text("deep")
    (deep / "link").symlink_to(outside)
    (deep / "d0" / "into").symlink_to(outside / "keep.txt")
    remove_tree(volumes, "v1")
    assert list(volumes.iterdir()) == []
    assert (outside / "keep.txt").read_text() == "kept"
    remove_tree(volumes, "v1")  # already gone: no error
