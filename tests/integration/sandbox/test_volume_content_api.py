"""The E2B volume content API driven by the unmodified E2B SDK (``Volume``, ``AsyncVolume``)
against the router served by uvicorn on a loopback port over a temporary volume."""

from __future__ import annotations

import asyncio
import io
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from e2b import AsyncVolume, Volume
from e2b.exceptions import (
    NotFoundException,
    VolumeException,
    VolumePathNotFoundException,
)
from fastapi import FastAPI
from tests.conftest import free_port

from dockyard.node.sandbox.isolation import SANDBOX_UID
from dockyard.sandbox._e2b_volume_content import (
    VOLUME_CONTENT_PREFIXES,
    build_volume_content_router,
)

VOLUME_ID = "vol-test"
TOKEN = "vol-token-" + "x" * 24


class Served:
    def __init__(self, url: str, root: Path, outside: Path) -> None:
        self.url = url
        self.root = root
        self.outside = outside


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("volumes")
    root, outside = base / "volume", base / "outside"
    root.mkdir()
    outside.mkdir()

    def resolve(volume_id: str, token: str | None) -> Path | None:
        if volume_id == VOLUME_ID and token and secrets.compare_digest(token, TOKEN):
            return root
        return None

    app = FastAPI()
    app.include_router(build_volume_content_router(resolve))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield Served(f"http://127.0.0.1:{port}", root, outside)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def volume(served: Served, monkeypatch: pytest.MonkeyPatch) -> Volume:
    monkeypatch.setenv("E2B_VOLUME_API_URL", served.url)
    monkeypatch.delenv("E2B_DEBUG", raising=False)
    for entry in os.listdir(served.root):
        Volume(volume_id=VOLUME_ID, name="t", token=TOKEN).remove(entry)
    # What Volume.connect builds once the control plane has answered with name and token.
    return Volume(volume_id=VOLUME_ID, name="test-volume", token=TOKEN)


def test_prefix_covers_the_routes() -> None:
    router = build_volume_content_router(lambda volume_id, token: None)
    paths = {getattr(route, "path", "") for route in router.routes}
    assert paths and all(p.startswith(VOLUME_CONTENT_PREFIXES) for p in paths)


def test_files_written_and_read_in_every_format(volume: Volume) -> None:
    entry = volume.write_file("/hello.txt", "héllo volume")
    assert (entry.name, entry.type.value, entry.path) == ("hello.txt", "file", "/hello.txt")
    assert (entry.size, entry.mode, entry.uid) == (len("héllo volume".encode()), 0o644, SANDBOX_UID)
    assert volume.read_file("/hello.txt") == "héllo volume"
    assert volume.read_file("hello.txt", format="bytes") == "héllo volume".encode()

    volume.write_file("/raw.bin", b"\x00\x01\xff", mode=0o600)
    assert volume.read_file("/raw.bin", format="bytes") == b"\x00\x01\xff"
    assert volume.get_info("/raw.bin").mode == 0o600

    big = os.urandom(6 * 1024 * 1024 + 123)
    written = volume.write_file("/big/blob.bin", io.BytesIO(big), force=True)
    assert written.size == len(big)
    chunks = list(volume.read_file("/big/blob.bin", format="stream"))
    assert len(chunks) > 1
    assert b"".join(chunks) == big

    volume.write_file("/hello.txt", "replaced")
    assert volume.read_file("/hello.txt") == "replaced"
    with pytest.raises(VolumePathNotFoundException):
        volume.read_file("/missing.txt")
    with pytest.raises(VolumePathNotFoundException):
        volume.write_file("/no/such/dir/file.txt", "x")


def test_directories_listing_info_metadata_and_removal(volume: Volume) -> None:
    made = volume.make_dir("/data")
    assert (made.type.value, made.path, made.mode) == ("directory", "/data", 0o755)
    with pytest.raises(VolumeException, match="409"):
        volume.make_dir("/data")
    assert volume.make_dir("/data", force=True).path == "/data"
    with pytest.raises(VolumePathNotFoundException):
        volume.make_dir("/a/b/c")
    volume.make_dir("/a/b/c", force=True, mode=0o700, uid=1000, gid=1000)
    volume.write_file("/data/one.txt", "1")

    assert [(e.path, e.type.value) for e in volume.list("/")] == [
        ("/a", "directory"),
        ("/data", "directory"),
    ]
    assert [e.path for e in volume.list("/", depth=3)] == [
        "/a",
        "/a/b",
        "/a/b/c",
        "/data",
        "/data/one.txt",
    ]
    with pytest.raises(VolumePathNotFoundException):
        volume.list("/nowhere")

    info = volume.get_info("/a/b/c")
    assert (info.uid, info.gid, info.mode, info.name) == (1000, 1000, 0o700, "c")
    assert info.mtime.tzinfo is not None
    assert volume.exists("/data/one.txt")
    assert not volume.exists("/data/two.txt")

    updated = volume.update_metadata("/data/one.txt", uid=4321, mode=0o640)
    assert (updated.uid, updated.mode) == (4321, 0o640)
    with pytest.raises(VolumeException, match="mode"):
        volume.update_metadata("/data/one.txt", mode=0o4755)

    volume.remove("/data/one.txt")
    volume.remove("/a")
    assert [e.path for e in volume.list("/")] == ["/data"]
    with pytest.raises(VolumePathNotFoundException):
        volume.remove("/a")
    with pytest.raises(VolumeException, match=r"must not contain '\.\.'"):
        volume.get_info("/data/../../etc/passwd")


def test_a_link_out_of_the_volume_is_not_followed(volume: Volume, served: Served) -> None:
    secret = served.outside / "secret"
    secret.write_text("outside the volume")
    os.symlink(secret, served.root / "leak")
    os.symlink(served.outside, served.root / "dir-leak")

    info = volume.get_info("/leak")
    assert (info.type.value, info.target) == ("symlink", str(secret))
    with pytest.raises(VolumeException, match="symbolic link"):
        volume.read_file("/leak")
    with pytest.raises(VolumeException, match="symbolic link"):
        list(volume.read_file("/leak", format="stream"))
    with pytest.raises(VolumeException, match="symbolic link"):
        volume.write_file("/leak", "pwned")
    with pytest.raises(VolumeException, match="symbolic link"):
        volume.read_file("/dir-leak/secret")
    with pytest.raises(VolumeException, match="symbolic link"):
        volume.write_file("/dir-leak/new", "pwned")
    with pytest.raises(VolumeException, match="symbolic link"):
        volume.update_metadata("/leak", mode=0o777)
    volume.remove("/dir-leak")
    assert secret.read_text() == "outside the volume"
    assert os.listdir(served.outside) == ["secret"]
    assert secret.stat().st_mode & 0o777 != 0o777


def test_a_wrong_token_or_volume_reveals_nothing(volume: Volume, served: Served) -> None:
    volume.write_file("/kept.txt", "kept")
    wrong = Volume(volume_id=VOLUME_ID, name="test-volume", token="not-the-token")
    with pytest.raises(NotFoundException):
        wrong.read_file("/kept.txt")
    with pytest.raises(NotFoundException):
        wrong.get_info("/kept.txt")
    with pytest.raises(NotFoundException):
        wrong.remove("/kept.txt")
    other = Volume(volume_id="vol-other", name="other", token=TOKEN)
    with pytest.raises(NotFoundException):
        other.list("/")
    assert volume.read_file("/kept.txt") == "kept"

    url = f"{served.url}/volumecontent/{VOLUME_ID}/path"
    for headers in ({}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": "Bearer"}):
        response = httpx.get(url, params={"path": "/kept.txt"}, headers=headers)
        assert response.status_code == 401
        assert set(response.json()) == {"code", "message"}


def test_an_upload_cut_off_leaves_nothing_behind(volume: Volume, served: Served) -> None:
    volume.write_file("/cut.bin", b"old content")
    port = int(served.url.rsplit(":", 1)[1])

    def wait_for_entries(count: int) -> None:
        deadline = time.monotonic() + 30
        while len(os.listdir(served.root)) != count and time.monotonic() < deadline:
            time.sleep(0.02)

    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(
            (
                f"PUT /volumecontent/{VOLUME_ID}/file?path=/cut.bin HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                "Content-Type: application/octet-stream\r\n"
                f"Content-Length: {8 << 20}\r\n\r\n"
            ).encode()
            + b"n" * (3 << 20)
        )
        wait_for_entries(2)  # the upload's temporary file is there
        assert len(os.listdir(served.root)) == 2
    wait_for_entries(1)
    assert os.listdir(served.root) == ["cut.bin"]
    assert volume.read_file("/cut.bin", format="bytes") == b"old content"


def test_query_parameters_are_checked(served: Served) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    base = f"{served.url}/volumecontent/{VOLUME_ID}"
    cases = [
        ("GET", "/path", {}, "path"),
        ("GET", "/dir", {"path": "/", "depth": "zero"}, "depth"),
        ("GET", "/dir", {"path": "/", "depth": "0"}, "depth"),
        ("POST", "/dir", {"path": "/x", "mode": "rwx"}, "mode"),
        ("POST", "/dir", {"path": "/x", "force": "maybe"}, "force"),
        ("PUT", "/file", {"path": "/x", "uid": "-5"}, "uid"),
    ]
    for method, suffix, params, field in cases:
        response = httpx.request(method, base + suffix, params=params, headers=headers)
        assert response.status_code == 400, (method, suffix, params)
        assert response.json()["message"].startswith(f"{field}:")
    response = httpx.patch(
        base + "/path", params={"path": "/"}, headers=headers, json={"uid": "root"}
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith("uid:")


def test_the_async_sdk(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("E2B_VOLUME_API_URL", served.url)
    monkeypatch.delenv("E2B_DEBUG", raising=False)

    async def scenario() -> None:
        volume = AsyncVolume(volume_id=VOLUME_ID, name="test-volume", token=TOKEN)
        await volume.make_dir("/async/deep", force=True)
        entry = await volume.write_file("/async/deep/f.txt", "async content")
        assert entry.path == "/async/deep/f.txt"
        assert await volume.read_file("/async/deep/f.txt") == "async content"
        chunks = [
            chunk async for chunk in await volume.read_file("/async/deep/f.txt", format="stream")
        ]
        assert b"".join(chunks) == b"async content"
        assert [e.path for e in await volume.list("/async", depth=2)] == [
            "/async/deep",
            "/async/deep/f.txt",
        ]
        assert (await volume.update_metadata("/async/deep/f.txt", mode=0o600)).mode == 0o600
        assert await volume.exists("/async/deep/f.txt")
        await volume.remove("/async")
        assert not await volume.exists("/async")
        with pytest.raises(VolumePathNotFoundException):
            await volume.get_info("/async")

    asyncio.run(scenario())
