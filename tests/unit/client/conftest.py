"""Fixtures for SDK tests: the fake API and one driver per client flavour."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_api import FakeApi
from sdk_driver import Driver


@pytest.fixture
def fake() -> FakeApi:
    return FakeApi()


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def driver(flavour: str, fake: FakeApi) -> Iterator[Driver]:
    d = Driver(flavour, fake, token=None, data_dir="/nonexistent")
    yield d
    d.close()


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DOCKYARD_SERVER", "DOCKYARD_TOKEN", "DOCKYARD_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
