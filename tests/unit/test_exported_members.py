"""The public surface stays honest: everything in each ``__all__`` exists and nothing
private leaks into it."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "dockyard",
    "dockyard.api",
    "dockyard.store",
    "dockyard.control",
    "dockyard.node.sandbox",
    "dockyard.server",
    "dockyard.client",
    "dockyard.testing",
    "dockyard.serving.engine",
    "dockyard.serving.gateway",
    "dockyard.serving.groups",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_exported_members_exist_and_are_public(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported, f"{name} exports nothing"
    for member in exported:
        assert hasattr(module, member), f"{name}.__all__ names missing {member}"
        assert not member.startswith("_") or member == "__version__"
    assert len(set(exported)) == len(exported)


def test_top_level_client_is_the_sdk() -> None:
    import dockyard
    from dockyard.client import Client

    assert dockyard.Client is Client
