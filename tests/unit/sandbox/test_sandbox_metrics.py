"""Sandbox metrics arithmetic: CPU percent between samples counted from the sandbox's own
baseline (cgroup v2's counter covers a reused cgroup's earlier sandboxes too), rebased
when the sandbox runs in a new box; samples kept packed and filtered by time."""

from __future__ import annotations

from pathlib import Path

from dockyard.node.sandbox.isolation import PodCgroup
from dockyard.sandbox._metrics import MetricsHistory, Usage, cpu_baseline

MiB = 1 << 20


def usage(cpu_seconds: float) -> Usage:
    return Usage(cpu_seconds, 100 * MiB, 10 * MiB, 5 * MiB, 1024 * MiB)


def test_cpu_is_counted_from_the_baseline_of_a_reused_v2_cgroup(tmp_path: Path) -> None:
    (tmp_path / "cpu.stat").write_text("usage_usec 500000000\nuser_usec 1\n")
    baseline = cpu_baseline(PodCgroup(driver="v2", dirs=[tmp_path]))
    assert baseline == 500.0  # what earlier sandboxes in the cgroup used
    history = MetricsHistory(100.0, baseline)
    first = history.add(110.0, usage(501.0), cpu_millis=2000, memory_limit=512 * MiB)
    assert first.cpu_used_pct == 5.0  # 1 s of 2 CPUs over 10 s
    assert (first.mem_used, first.mem_cache) == (90 * MiB, 10 * MiB)
    assert cpu_baseline(PodCgroup(driver="v1", dirs=[tmp_path])) == 0.0


def test_a_new_box_restarts_the_count_and_samples_filter_by_time() -> None:
    history = MetricsHistory(0.0)
    history.add(10.0, usage(5.0), cpu_millis=1000, memory_limit=512 * MiB)
    history.rebase(20.0, 0.0)  # woken: its counter starts again
    second = history.add(30.0, usage(2.5), cpu_millis=1000, memory_limit=512 * MiB)
    assert second.cpu_used_pct == 25.0
    assert [m.timestamp for m in history.between(15.0, None)] == [30.0]
    assert history.latest() == second and len(history) == 2
