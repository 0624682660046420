"""Connection settings: server, token and data directory precedence; transport errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_api import FakeApi
from sdk_driver import Driver

from dockyard.client import Client, ServerUnreachableError, UnauthorizedError


@pytest.mark.parametrize(
    ("arg", "env", "file", "expected"),
    [
        ("from-arg", "from-env", "from-file", "Bearer from-arg"),
        (None, "from-env", "from-file", "Bearer from-env"),
        (None, None, "from-file\n", "Bearer from-file"),
        (None, None, None, None),
    ],
    ids=["argument", "environment", "data-dir-file", "none"],
)
def test_token_precedence(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flavour: str,
    fake: FakeApi,
    arg: str | None,
    env: str | None,
    file: str | None,
    expected: str | None,
) -> None:
    if env:
        monkeypatch.setenv("DOCKYARD_TOKEN", env)
    if file:
        (tmp_path / "token").write_text(file)
    monkeypatch.setenv("DOCKYARD_DATA_DIR", str(tmp_path))
    d = Driver(flavour, fake, token=arg)
    try:
        d("version")
    finally:
        d.close()

    assert fake.requests[-1].headers.get("Authorization") == expected


def test_server_from_environment(monkeypatch: pytest.MonkeyPatch, fake: FakeApi) -> None:
    monkeypatch.setenv("DOCKYARD_SERVER", "http://elsewhere:9000/")
    with Client(transport=fake.transport, data_dir="/nonexistent") as client:
        client.version()
        assert client.server == "http://elsewhere:9000"
    assert str(fake.requests[-1].url) == "http://elsewhere:9000/version"


def test_default_server(fake: FakeApi) -> None:
    with Client(transport=fake.transport, data_dir="/nonexistent") as client:
        assert client.server == "http://127.0.0.1:7420"


def test_wrong_token_raises_unauthorized(flavour: str) -> None:
    fake = FakeApi(token="right")
    d = Driver(flavour, fake, token="wrong")
    try:
        with pytest.raises(UnauthorizedError, match="Unauthorized"):
            d("list", "pods")
    finally:
        d.close()


def test_refused_connection_names_the_server(driver: Driver, fake: FakeApi) -> None:
    fake.refuse_connections = True

    with pytest.raises(ServerUnreachableError, match=r"http://dockyard\.test") as caught:
        driver("version")
    assert caught.value.server == "http://dockyard.test"


def test_version(driver: Driver) -> None:
    assert driver("version")["version"] == "0.1.0"


async def test_context_managers_close_the_connection(fake: FakeApi) -> None:
    from dockyard.client import AsyncClient

    with Client(transport=fake.transport, data_dir="/nonexistent") as client:
        client.version()
    async with AsyncClient(transport=fake.transport, data_dir="/nonexistent") as aclient:
        await aclient.version()

    assert client._http.is_closed
    assert aclient._http.is_closed
