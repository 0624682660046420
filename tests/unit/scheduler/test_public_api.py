"""The framework's public surface: everything in ``__all__`` exists and nothing private leaks."""

from __future__ import annotations

import pytest

import dockyard.scheduler.framework as framework
import dockyard.scheduler.plugins as plugins
import dockyard.sim as sim


@pytest.mark.parametrize("module", [framework, plugins, sim], ids=lambda m: m.__name__)
def test_all_names_exist_and_are_public(module: object) -> None:
    names = module.__all__  # type: ignore[attr-defined]
    assert len(set(names)) == len(names)
    for name in names:
        assert not name.startswith("_")
        assert hasattr(module, name), name
