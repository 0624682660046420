"""``dockyard get``: tables, formats, selection, and ``-w``."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from cli_runner import Cli, lines
from fake_api import FakeApi


def seed(fake: FakeApi) -> None:
    fake.pod("a", phase="Running", nodeName="node-1")
    fake.pod("b", phase="Pending")
    fake.pod("c", namespace="ml", phase="Succeeded", nodeName="node-2")
    fake.put({"apiVersion": "v1", "kind": "Pod",
              "metadata": {"name": "d", "labels": {"app": "web"}},
              "spec": {"containers": [{"name": "m", "image": "python:3.11"}]}})  # fmt: skip


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["get", "pods"], [
            "NAME   STATUS    NODE     AGE",
            "a      Running   node-1   5m",
            "b      Pending   <none>   5m",
            "d      Pending   <none>   5m",
        ]),
        (["get", "po", "a", "b"], [
            "NAME   STATUS    NODE     AGE",
            "a      Running   node-1   5m",
            "b      Pending   <none>   5m",
        ]),
        (["get", "pod/a"], ["NAME   STATUS    NODE     AGE", "a      Running   node-1   5m"]),
        (["get", "pods", "-l", "app=web"], [
            "NAME   STATUS    NODE     AGE",
            "d      Pending   <none>   5m",
        ]),
        (["get", "pods", "-n", "ml"], [
            "NAME   STATUS      NODE     AGE",
            "c      Succeeded   node-2   5m",
        ]),
        (["-n", "ml", "get", "pods"], [
            "NAME   STATUS      NODE     AGE",
            "c      Succeeded   node-2   5m",
        ]),
        (["get", "pods", "-A"], [
            "NAMESPACE   NAME   STATUS      NODE     AGE",
            "default     a      Running     node-1   5m",
            "default     b      Pending     <none>   5m",
            "default     d      Pending     <none>   5m",
            "ml          c      Succeeded   node-2   5m",
        ]),
        (["get", "pods", "d", "-o", "wide"], [
            "NAME   STATUS    RESTARTS   NODE     GPU      AGE   REASON   IMAGES",
            "d      Pending   0          <none>   <none>   5m    <none>   python:3.11",
        ]),
    ],
    ids=[
        "list", "names", "kind-slash-name", "selector", "command-namespace",
        "global-namespace", "all-namespaces", "wide",
    ],
)  # fmt: skip
def test_get_table(cli: Cli, fake: FakeApi, args: list[str], expected: list[str]) -> None:
    seed(fake)

    result = cli(*args)

    assert result.exit_code == 0, result.output
    assert result.stdout == "".join(line + "\n" for line in expected)  # no trailing blanks


def test_get_other_kinds(cli: Cli, fake: FakeApi) -> None:
    fake.put({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
              "metadata": {"name": "wf1"}, "status": {"phase": "Running"}})  # fmt: skip
    capacity = {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2"}
    fake.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
              "status": {"conditions": [{"type": "Ready", "status": "True"}],
                         "capacity": capacity}})  # fmt: skip
    fake.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml"}})

    assert lines(cli("get", "workflows.argoproj.io").stdout) == [
        "NAME   STATUS    AGE",
        "wf1    Running   5m",
    ]
    assert lines(cli("get", "nodes", "-o", "wide").stdout) == [
        "NAME   STATUS   AGE   CPU   MEMORY   GPU",
        "n1     Ready    5m    8     32Gi     2",
    ]
    assert lines(cli("get", "ns").stdout) == ["NAME   STATUS   AGE", "ml     Active   5m"]


def test_kind_without_phase_shows_name_and_age(cli: Cli, fake: FakeApi) -> None:
    fake.put({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
              "metadata": {"name": "wf1"}})  # fmt: skip

    assert lines(cli("get", "wf").stdout) == ["NAME   AGE", "wf1    5m"]


@pytest.mark.parametrize(
    ("args", "check"),
    [
        (["-o", "json", "a"], lambda out: json.loads(out)["metadata"]["name"] == "a"),
        (["-o", "json"], lambda out: [i["metadata"]["name"] for i in json.loads(out)["items"]]
         == ["a", "b", "d"] and json.loads(out)["kind"] == "List"),
        (["-o", "yaml", "b"], lambda out: yaml.safe_load(out)["status"]["phase"] == "Pending"),
        (["-o", "yaml"], lambda out: len(yaml.safe_load(out)["items"]) == 3),
        (["-o", "name"], lambda out: out == "pod/a\npod/b\npod/d\n"),
    ],
    ids=["json-one", "json-list", "yaml-one", "yaml-list", "name"],
)  # fmt: skip
def test_get_machine_formats(cli: Cli, fake: FakeApi, args: list[str], check: Any) -> None:
    seed(fake)

    result = cli("get", "pods", *args)

    assert result.exit_code == 0, result.output
    assert check(result.stdout)


@pytest.mark.parametrize(
    ("args", "stderr", "code"),
    [
        (["get", "gadgets"], 'error: the server doesn\'t have a resource type "gadgets"', 1),
        (["get", "pods", "ghost"], 'Error from server (NotFound): pods "ghost" not found', 1),
        (["get", "pods", "-o", "xml"], 'error: unknown output format "xml"', 1),
        (["get", "pods", "-n", "empty"], "No resources found in empty namespace.", 0),
        (["get", "pod/a", "node/b"], "must name the same kind", 1),
        (["get", "pods", "a", "-A"], "drop -A or the names", 1),
    ],
    ids=["unknown-kind", "not-found", "bad-format", "empty", "mixed-kinds", "names-with-A"],
)
def test_get_problems(cli: Cli, fake: FakeApi, args: list[str], stderr: str, code: int) -> None:
    seed(fake)

    result = cli(*args)

    assert result.exit_code == code
    assert stderr in result.stderr


def test_get_some_names_missing_prints_the_rest_and_fails(cli: Cli, fake: FakeApi) -> None:
    seed(fake)

    result = cli("get", "pods", "a", "ghost")

    assert result.exit_code == 1
    assert lines(result.stdout)[1].startswith("a ")
    assert 'pods "ghost" not found' in result.stderr


def _ctrl_c(api: FakeApi) -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], [
            "NAME   STATUS    NODE     AGE",
            "a      Running   node-1   5m",
            "b      Pending   <none>   5m",
            "d      Pending   <none>   5m",
            "e      Pending   <none>   5m",
            "b      Running   <none>   5m",
            "a      Running   node-1   5m",
        ]),
        (["--output-watch-events"], [
            "EVENT      NAME   STATUS    NODE     AGE",
            "ADDED      a      Running   node-1   5m",
            "ADDED      b      Pending   <none>   5m",
            "ADDED      d      Pending   <none>   5m",
            "ADDED      e      Pending   <none>   5m",
            "MODIFIED   b      Running   <none>   5m",
            "DELETED    a      Running   node-1   5m",
        ]),
        (["-o", "name"], ["pod/a", "pod/b", "pod/d", "pod/e", "pod/b", "pod/a"]),
    ],
    ids=["table", "with-event-types", "names"],
)  # fmt: skip
def test_get_watch_prints_changes_until_interrupted(
    cli: Cli, fake: FakeApi, args: list[str], expected: list[str]
) -> None:
    seed(fake)

    def changes(api: FakeApi) -> None:
        api.pod("e")
        api.set_status("pods", "b", phase="Running")
        api.remove("pods", "a")

    fake.on_watch.extend([changes, _ctrl_c])

    result = cli("get", "pods", "-w", *args)

    assert result.exit_code == 130
    assert lines(result.stdout) == expected
