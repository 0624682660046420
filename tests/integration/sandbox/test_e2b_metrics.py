"""Sandbox metrics through the unmodified E2B SDK (`get_metrics`) and plain HTTP: CPU
used by a busy loop, memory and disk taken by a file in the home directory, the limits as
totals, the time window, the batch endpoint, tenancy and bad input."""

from __future__ import annotations

import time

import httpx
import pytest
from e2b_code_interpreter import Sandbox

pytestmark = pytest.mark.usefixtures("e2b_env")

MiB = 1 << 20


def test_metrics_show_cpu_memory_and_disk(e2b_http: httpx.Client, other_key: str) -> None:
    sbx = Sandbox.create(timeout=60)
    try:
        sbx.commands.run("head -c 8M /dev/urandom > /home/user/blob")
        sbx.commands.run("timeout 0.6 sh -c 'while :; do :; done' || true")
        first = sbx.get_metrics()
        assert len(first) == 1, first
        sample = first[-1]
        assert sample.cpu_count == 1
        assert sample.mem_total == 512 * MiB and sample.disk_total == 1024 * MiB
        assert sample.disk_used >= 8 * MiB, sample
        assert sample.mem_cache >= 8 * MiB, sample  # the home is a tmpfs
        assert 0 < sample.mem_used < sample.mem_total
        assert sample.cpu_used_pct > 10, sample  # a busy loop for most of its life

        time.sleep(1.1)  # a second sample, over an idle second
        series = sbx.get_metrics()
        assert len(series) == 2 and series[0].timestamp < series[1].timestamp
        assert series[1].cpu_used_pct < sample.cpu_used_pct
        later = series[1].timestamp.timestamp() + 3600
        assert e2b_http.get(f"/sandboxes/{sbx.sandbox_id}/metrics",
                            params={"start": int(later)}).json() == []  # fmt: skip

        batch = e2b_http.get("/sandboxes/metrics", params={"sandbox_ids": sbx.sandbox_id})
        assert batch.status_code == 200, batch.text
        assert batch.json()["sandboxes"][sbx.sandbox_id]["diskUsed"] >= 8 * MiB

        bad = e2b_http.get(f"/sandboxes/{sbx.sandbox_id}/metrics", params={"start": "soon"})
        assert bad.status_code == 400 and "start" in bad.json()["message"]
        with httpx.Client(
            base_url=str(e2b_http.base_url), headers={"X-API-Key": other_key}, timeout=30
        ) as other:
            assert other.get(f"/sandboxes/{sbx.sandbox_id}/metrics").status_code == 404
            theirs = other.get("/sandboxes/metrics", params={"sandbox_ids": sbx.sandbox_id})
            assert theirs.json() == {"sandboxes": {}}
    finally:
        sbx.kill()
