"""Control-plane memory that sandbox metrics take: an hour of samples (720, one every 5 s)
for each of `--sandboxes` sandboxes, kept as `MetricsHistory` keeps them (packed) against
the same samples kept as `Metric` objects. Measured with tracemalloc; no sandbox runs.
Writes ``bench/results/sandbox_metrics_memory.json``.

    python bench/sandbox_metrics_memory.py [--sandboxes 100]
"""

from __future__ import annotations

import argparse
import tracemalloc
from collections import deque
from collections.abc import Callable
from typing import Any

from _common import write_result

from dockyard.sandbox._metrics import INTERVAL_SECONDS, KEEP, Metric, MetricsHistory, Usage

MiB = 1 << 20


def usage(k: int) -> Usage:
    # Values that change every sample, as real ones do (no shared small ints).
    return Usage(2.5 + k, 100 * MiB + k, 10 * MiB + k, 5 * MiB + k, 1024 * MiB)


def held_bytes(make: Callable[[], Any], sandboxes: int) -> float:
    """Bytes still allocated per sandbox once `make` has built each one's hour."""
    tracemalloc.start()
    kept = [make() for _ in range(sandboxes)]
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(kept) == sandboxes
    return held / sandboxes


def packed() -> MetricsHistory:
    history = MetricsHistory(0.0)
    for k in range(KEEP):
        history.add(INTERVAL_SECONDS * (k + 1), usage(k), 1000, 512 * MiB)
    return history


def objects() -> deque[Metric]:
    out: deque[Metric] = deque(maxlen=KEEP)
    for k in range(KEEP):
        out.append(Metric(INTERVAL_SECONDS * (k + 1), 1, 25.5 + k, 90 * MiB + k, 512 * MiB,
                          10 * MiB + k, 5 * MiB + k, 1024 * MiB))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sandboxes", type=int, default=100)
    args = parser.parse_args()
    as_kept = held_bytes(packed, args.sandboxes)
    as_objects = held_bytes(objects, args.sandboxes)
    write_result(
        "sandbox_metrics_memory",
        {
            "sandboxes": args.sandboxes,
            "samples_per_sandbox": KEEP,
            "kib_per_sandbox_hour_packed": round(as_kept / 1024, 1),
            "kib_per_sandbox_hour_as_objects": round(as_objects / 1024, 1),
            "bytes_per_sample_packed": round(as_kept / KEEP, 1),
        },
    )


if __name__ == "__main__":
    main()
