"""`raise_limits`: kernel limits sandboxes share are raised, never lowered, and left
alone when the environment says so or the file cannot be written."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.sandbox.runtime._limits import KEEP_ENV, raise_limit, raise_limits


def test_a_lower_limit_is_raised_and_a_higher_one_kept(tmp_path: Path) -> None:
    low, high = tmp_path / "low", tmp_path / "high"
    low.write_text("128\n")
    high.write_text("100000\n")
    assert raise_limits({str(low): 8192, str(high): 8192}) == {str(low): 8192, str(high): 100000}
    assert low.read_text() == "8192\n"
    assert high.read_text() == "100000\n"


def test_unreadable_or_unwritable_limits_are_reported_not_raised(tmp_path: Path) -> None:
    assert raise_limit(tmp_path / "missing", 10) is None
    garbled = tmp_path / "garbled"
    garbled.write_text("many\n")
    assert raise_limit(garbled, 10) is None
    # A read-only kernel counter: nobody, root included, may write it.
    counter = Path("/proc/sys/fs/file-nr")
    in_effect = raise_limit(counter, 1 << 62)
    assert in_effect is not None and in_effect < 1 << 62  # what it was, not what was asked


def test_the_environment_keeps_the_hosts_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = tmp_path / "limit"
    limit.write_text("128\n")
    monkeypatch.setenv(KEEP_ENV, "1")
    assert raise_limits({str(limit): 8192}) == {str(limit): None}
    assert limit.read_text() == "128\n"
