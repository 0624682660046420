"""The data-processing stage of ``dockyard demo``: an Argo workflow through the Argo API.

Workflows layer. :func:`run_workflow_stage` submits :data:`DEMO_WORKFLOW` — generate a raw
dataset, clean it as parallel shards (fan-out with ``withParam``), fan back in to write a
manifest (an output parameter, exported as a global) — to ``POST /api/v1/workflows/{ns}``
and shows the workflow tree live until it finishes.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.tree import Tree

GENERATE = """\
import json, random
random.seed(11)
rows = [{"id": i, "value": round(random.gauss(50, 15), 3)} for i in range(2000)]
shards = [rows[i::4] for i in range(4)]
print(json.dumps([{"shard": i, "rows": json.dumps(s)} for i, s in enumerate(shards)]))
"""

CLEAN = """\
import json, statistics
rows = json.loads('''{{inputs.parameters.rows}}''')
values = [r["value"] for r in rows]
mean, sd = statistics.fmean(values), statistics.pstdev(values)
kept = [r for r in rows if abs(r["value"] - mean) < 3 * sd]
print(json.dumps({"shard": {{inputs.parameters.shard}}, "rows": len(rows), "kept": len(kept)}))
"""

MANIFEST = """\
import json
shards = [json.loads(s) if isinstance(s, str) else s for s in json.loads('''{{inputs.parameters.shards}}''')]
manifest = {"shards": sorted(shards, key=lambda s: s["shard"]),
            "kept": sum(s["kept"] for s in shards), "rows": sum(s["rows"] for s in shards)}
open("/tmp/manifest.json", "w").write(json.dumps(manifest))
print(f"manifest: {manifest['kept']} of {manifest['rows']} rows kept in {len(shards)} shards")
"""

DEMO_WORKFLOW: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"generateName": "demo-data-", "labels": {"dockyard.dev/demo": "workflows"}},
    "spec": {
        "entrypoint": "pipeline",
        "templates": [
            {
                "name": "pipeline",
                "dag": {
                    "tasks": [
                        {"name": "generate", "template": "generate"},
                        {
                            "name": "clean",
                            "template": "clean",
                            "depends": "generate",
                            "withParam": "{{tasks.generate.outputs.result}}",
                            "arguments": {
                                "parameters": [
                                    {"name": "shard", "value": "{{item.shard}}"},
                                    {"name": "rows", "value": "{{item.rows}}"},
                                ]
                            },
                        },
                        {
                            "name": "manifest",
                            "template": "manifest",
                            "depends": "clean",
                            "arguments": {
                                "parameters": [
                                    {"name": "shards", "value": "{{tasks.clean.outputs.result}}"}
                                ]
                            },
                        },
                    ]
                },
            },
            {
                "name": "generate",
                "script": {"image": "python:3.12", "command": ["python"], "source": GENERATE},
            },
            {
                "name": "clean",
                "inputs": {"parameters": [{"name": "shard"}, {"name": "rows"}]},
                "script": {"image": "python:3.12", "command": ["python"], "source": CLEAN},
            },
            {
                "name": "manifest",
                "inputs": {"parameters": [{"name": "shards"}]},
                "script": {"image": "python:3.12", "command": ["python"], "source": MANIFEST},
                "outputs": {
                    "parameters": [
                        {
                            "name": "manifest",
                            "globalName": "manifest",
                            "valueFrom": {"path": "/tmp/manifest.json"},
                        }
                    ]
                },
            },
        ],
    },
}

_STYLE = {
    "Succeeded": "[green]✔[/green]",
    "Failed": "[red]✖[/red]",
    "Error": "[red]✖[/red]",
    "Running": "[yellow]●[/yellow]",
    "Pending": "[dim]○[/dim]",
    "Skipped": "[dim]-[/dim]",
    "Omitted": "[dim]-[/dim]",
}


def _shorten(text: str, width: int) -> str:
    """One line of at most ``width`` characters (loop items can be whole JSON documents)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def workflow_tree(workflow: dict[str, Any]) -> Tree:
    """The workflow's nodes as a tree (children under their parents), with phases."""
    status = workflow.get("status") or {}
    nodes: dict[str, dict[str, Any]] = status.get("nodes") or {}
    name = workflow["metadata"]["name"]
    tree = Tree(
        f"[bold]{name}[/bold] {status.get('phase', 'Pending')} {status.get('progress', '')}"
    )
    seen: set[str] = set()

    def label(node: dict[str, Any]) -> str:
        mark = _STYLE.get(node.get("phase", ""), "?")
        text = f"{mark} {_shorten(str(node.get('displayName', node['id'])), 48)}"
        if node.get("type") == "Pod":
            result = (node.get("outputs") or {}).get("result")
            if result and node.get("phase") == "Succeeded":
                text += f" [dim]{escape(_shorten(result, 48))}[/dim]"
        elif node.get("type") in ("DAG", "Steps", "TaskGroup"):
            text += f" [dim]({node['type']})[/dim]"
        return text

    def add(parent: Tree, node_id: str) -> None:
        node = nodes.get(node_id)
        if node is None or node_id in seen:
            return
        seen.add(node_id)
        branch = parent.add(label(node))
        for child in node.get("children") or []:
            add(branch, child)

    root = nodes.get(name)
    if root is not None:
        add(tree, root["id"])
    return tree


def run_workflow_stage(
    client_url: str,
    token: str,
    console: Console,
    *,
    namespace: str = "default",
    timeout: float = 180.0,
) -> bool:
    """Submit the demo workflow through the Argo REST API, show its tree live until it
    finishes, print the manifest; True when it Succeeded."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=client_url, headers=headers, timeout=30, verify=False) as http:
        response = http.post(f"/api/v1/workflows/{namespace}", json={"workflow": DEMO_WORKFLOW})
        if response.status_code != 200:
            console.print(f"[red]workflow submission failed:[/red] {response.text}")
            return False
        name = response.json()["metadata"]["name"]
        console.print(
            f"[bold]Workflow[/bold] {name}: generate → clean 4 shards in parallel (withParam) → manifest"
        )
        workflow: dict[str, Any] = response.json()
        deadline = time.monotonic() + timeout
        with Live(workflow_tree(workflow), console=console, refresh_per_second=8) as live:
            while True:
                workflow = http.get(f"/api/v1/workflows/{namespace}/{name}").json()
                live.update(workflow_tree(workflow))
                if (workflow.get("status") or {}).get("finishedAt"):
                    break
                if time.monotonic() > deadline:
                    console.print(f"[red]workflow {name} did not finish in {timeout:.0f}s[/red]")
                    return False
                time.sleep(0.25)
    status = workflow.get("status") or {}
    phase = status.get("phase")
    if phase != "Succeeded":
        console.print(f"[red]workflow {name} {phase}:[/red] {status.get('message', '')}")
        return False
    manifest = next(
        (
            p.get("value")
            for p in (status.get("outputs") or {}).get("parameters") or []
            if p.get("name") == "manifest"
        ),
        None,
    )
    if manifest:
        data = json.loads(manifest)
        console.print(
            f"[green]manifest[/green]: {data['kept']} of {data['rows']} rows kept "
            f"in {len(data['shards'])} shards"
        )
    return True
