"""The agent stage of ``dockyard demo``: an E2B SDK session against a running Dockyard
server that runs code, hibernates the sandbox, wakes it and shows its state restored, then
forks it into two sandboxes that go on from that state independently.

Needs the ``e2b-code-interpreter`` package (in Dockyard's ``dev`` extra).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from dockyard.sandbox._keys import issue_key


def run_agent_stage(url: str, data_dir: Path) -> dict[str, Any]:
    """Drive one sandbox through the unmodified E2B SDK at `url` (the server's address;
    `data_dir` is its data directory, where a demo API key is issued). Returns what was
    shown: the sandbox id, outputs before and after hibernation, names not saved, and the
    length of a list each fork appended to (the source's stays as it was)."""
    from e2b_code_interpreter import Sandbox  # type: ignore[import-untyped]

    key = issue_key(data_dir, "demo")
    os.environ.update({"E2B_API_URL": url, "E2B_SANDBOX_URL": url, "E2B_API_KEY": key})
    os.environ.pop("E2B_DEBUG", None)
    sbx = Sandbox.create(timeout=120)
    try:
        before = sbx.run_code("import math\nrows = [i * i for i in range(10)]\nsum(rows)").text
        sbx.files.write("notes.txt", "written before hibernation")
        reply = httpx.post(
            f"{url}/sandboxes/{sbx.sandbox_id}/hibernate", headers={"X-API-Key": key}, timeout=60
        )
        reply.raise_for_status()
        woken = Sandbox.connect(sbx.sandbox_id)
        after = woken.run_code("sum(rows), math.sqrt(rows[4])").text
        notes = woken.files.read("notes.txt")
        forks = [f for f in woken.fork(count=2) if isinstance(f, Sandbox)]
        try:
            grown = [f.run_code(f"rows.append({n})\nlen(rows)").text for n, f in enumerate(forks)]
            source_rows = woken.run_code("len(rows)").text
        finally:
            for fork in forks:
                fork.kill()
        return {
            "sandbox": sbx.sandbox_id,
            "before": before,
            "after_wake": after,
            "file_after_wake": notes,
            "unsaved": reply.json().get("unsaved"),
            "forks_rows": grown,
            "source_rows": source_rows,
            "ok": before == "285"
            and after == "(285, 4.0)"
            and notes.startswith("written")
            and grown == ["11", "11"]
            and source_rows == "10",
        }
    finally:
        sbx.kill()
