"""``dockyard demo``: start an embedded control plane and run a small pipeline of Pods.

generate → transform → report, each a sandboxed Pod that shares one host directory with
the next stage, driven through the Python SDK exactly as a user would, with live progress.
Later stages of Dockyard add their own steps to this demo.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from dockyard._ports import free_port as _free_port
from dockyard.client import Client
from dockyard.server import BackgroundControlPlane, ControlPlaneConfig

SANDBOX_UID = 65534
LABEL = "dockyard.dev/demo"


@dataclass(frozen=True)
class Stage:
    name: str
    description: str
    script: str


STAGES = (
    Stage(
        "generate",
        "generate 10,000 samples",
        "import json, random\n"
        "random.seed(7)\n"
        "rows = [{'id': i, 'value': random.gauss(50, 15)} for i in range(10_000)]\n"
        "json.dump(rows, open('/share/raw.json', 'w'))\n"
        "print(f'generated {len(rows)} rows')\n",
    ),
    Stage(
        "transform",
        "normalize and filter",
        "import json, statistics\n"
        "rows = json.load(open('/share/raw.json'))\n"
        "mean = statistics.fmean(r['value'] for r in rows)\n"
        "sd = statistics.pstdev(r['value'] for r in rows)\n"
        "out = [dict(r, z=(r['value'] - mean) / sd) for r in rows if abs(r['value'] - mean) < 3 * sd]\n"
        "json.dump(out, open('/share/clean.json', 'w'))\n"
        "print(f'kept {len(out)} of {len(rows)} rows (mean {mean:.2f}, sd {sd:.2f})')\n",
    ),
    Stage(
        "report",
        "summarize",
        "import json, statistics\n"
        "rows = json.load(open('/share/clean.json'))\n"
        "values = [r['value'] for r in rows]\n"
        "q = statistics.quantiles(values, n=4)\n"
        "print(f'rows={len(values)} min={min(values):.1f} p25={q[0]:.1f} median={q[1]:.1f} '\n"
        "      f'p75={q[2]:.1f} max={max(values):.1f}')\n",
    ),
)


def _pod(stage: Stage, share: Path, run_id: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{stage.name}-{run_id}",
            "labels": {LABEL: run_id, "stage": stage.name},
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": stage.name,
                    "image": "python:3.11",
                    "command": ["python3", "-c", stage.script],
                    "resources": {
                        "requests": {"cpu": "250m", "memory": "128Mi"},
                        "limits": {"cpu": "1", "memory": "512Mi"},
                    },
                    "volumeMounts": [{"name": "share", "mountPath": "/share", "readOnly": False}],
                }
            ],
            "volumes": [{"name": "share", "hostPath": {"path": str(share)}}],
        },
    }


def _run_stage(
    client: Client, stage: Stage, share: Path, run_id: str, progress: Progress
) -> dict[str, Any]:
    task = progress.add_task(f"{stage.name}: {stage.description}", total=3, status="Created")
    created = client.create(_pod(stage, share, run_id))
    name = created["metadata"]["name"]
    steps = {"Pending": 1, "Running": 2, "Succeeded": 3, "Failed": 3}
    while True:
        pod = client.get("pod", name)
        phase = pod.get("status", {}).get("phase", "Pending")
        scheduled = bool(pod["spec"].get("nodeName"))
        label = phase if phase != "Pending" or not scheduled else "Scheduled"
        progress.update(task, completed=steps.get(phase, 0), status=label)
        if phase in ("Succeeded", "Failed"):
            return pod
        time.sleep(0.02)


def run_demo(data_dir: Path | None = None, keep: bool = False) -> int:
    """Run the demo; returns the process exit code (0 when every stage succeeded)."""
    console = Console()
    owns_dir = data_dir is None
    root = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="dockyard-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o711)
    run_id = time.strftime("%H%M%S")
    share = root / "demo-share" / run_id
    share.mkdir(parents=True, exist_ok=True)
    for path in (share.parent, share):
        os.chown(path, SANDBOX_UID, SANDBOX_UID) if os.geteuid() == 0 else os.chmod(path, 0o777)
    config = ControlPlaneConfig(host="127.0.0.1", port=_free_port(), data_dir=root)
    console.print(f"[bold]Dockyard demo[/bold] — embedded control plane, data in {root}")
    verdicts: list[tuple[str, bool]] = []
    started = time.perf_counter()
    try:
        with (
            BackgroundControlPlane(config) as plane,
            Client(server=plane.url, token=plane.cp.token) as client,
        ):
            nodes = client.list("node", namespace=None)["items"]
            console.print(
                f"control plane at {plane.url}; nodes: {', '.join(n['metadata']['name'] for n in nodes)}"
            )
            verdicts.append(
                ("data pipeline (Pods)", _pipeline_stage(console, client, share, run_id))
            )
            verdicts.append(
                ("workflow (Argo API)", _workflow_stage(console, plane.url, plane.cp.token))
            )
            verdicts.append(
                (
                    "inference (OpenAI SDK via gateway)",
                    _inference_stage(console, plane.url, plane.cp.token),
                )
            )
            verdicts.append(("agent sandbox (E2B SDK)", _agent_stage(console, plane.url, root)))
    finally:
        if owns_dir and not keep:
            shutil.rmtree(root, ignore_errors=True)
    return _verdict(console, verdicts, time.perf_counter() - started)


def _pipeline_stage(console: Console, client: Client, share: Path, run_id: str) -> bool:
    console.rule("Data pipeline: generate → transform → report, one sandboxed Pod each")
    results: list[dict[str, Any]] = []
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        for stage in STAGES:
            pod = _run_stage(client, stage, share, run_id, progress)
            pod["log"] = "".join(client.logs(pod["metadata"]["name"])).strip()
            results.append(pod)
            if pod["status"]["phase"] != "Succeeded":
                break
    table = Table(title="Pipeline")
    for column in ("pod", "phase", "node", "exit", "output"):
        table.add_column(column)
    for pod in results:
        statuses = pod["status"].get("containerStatuses") or [{}]
        exit_code = statuses[0].get("state", {}).get("terminated", {}).get("exitCode", "")
        table.add_row(
            pod["metadata"]["name"],
            pod["status"]["phase"],
            pod["spec"].get("nodeName", ""),
            str(exit_code),
            pod.get("log", ""),
        )
    console.print(table)
    return len(results) == len(STAGES) and all(p["status"]["phase"] == "Succeeded" for p in results)


def _workflow_stage(console: Console, url: str, token: str) -> bool:
    console.rule("Workflow: an Argo DAG (fan-out, fan-in, output parameter) through the Argo API")
    from dockyard.workflows.demo import run_workflow_stage

    return run_workflow_stage(url, token, console)


def _inference_stage(console: Console, url: str, token: str) -> bool:
    console.rule("Inference: a RoleBasedGroup of prefill/decode engines behind the gateway")
    from dockyard.serving.demo import run_inference_stage

    return run_inference_stage(url, token, console)


def _agent_stage(console: Console, url: str, data_dir: Path) -> bool:
    console.rule("Agent sandbox: the E2B SDK runs code; hibernate, wake, fork")
    try:
        from dockyard.sandbox.demo import run_agent_stage
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        console.print(f"[yellow]skipped: {exc}[/yellow]")
        return True
    with console.status("creating a sandbox, running code, hibernating, waking, forking…"):
        try:
            shown = run_agent_stage(url, data_dir)
        except ImportError as exc:
            console.print(
                f"[yellow]skipped (install the e2b-code-interpreter package): {exc}[/yellow]"
            )
            return True
    table = Table(title=f"Sandbox {shown['sandbox']}")
    table.add_column("step")
    table.add_column("result")
    table.add_row("run code: sum of squares 0..9", str(shown["before"]))
    table.add_row("after hibernate + wake: same variables", str(shown["after_wake"]))
    table.add_row("file written before hibernation", str(shown["file_after_wake"]))
    table.add_row(
        "fork x2, each appends to the list: its length",
        f"{' / '.join(shown['forks_rows'])} (the source's: {shown['source_rows']})",
    )
    console.print(table)
    return bool(shown["ok"])


def _verdict(console: Console, verdicts: list[tuple[str, bool]], seconds: float) -> int:
    table = Table(title="Dockyard demo")
    table.add_column("stage")
    table.add_column("result")
    for name, ok in verdicts:
        table.add_row(name, "[green]ok[/green]" if ok else "[red]failed[/red]")
    console.print(table)
    ok = bool(verdicts) and all(passed for _, passed in verdicts)
    verdict = "[green]demo succeeded[/green]" if ok else "[red]demo failed[/red]"
    console.print(f"{verdict} in {seconds:.1f}s")
    return 0 if ok else 1
