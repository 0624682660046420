"""``dockyard apply -f`` and ``dockyard create -f``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import Cli
from fake_api import FakeApi

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: {app}}}
spec:
  containers:
  - name: main
    image: busybox
    command: ["true"]
"""
WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: wf1}
spec: {entrypoint: main}
"""
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n"


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_apply_multi_document_file(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, "---\n".join([POD.format(name="a", app="x"), WORKFLOW, NAMESPACE]))

    result = cli("apply", "-f", path)

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "pod/a created",
        "workflow.argoproj.io/wf1 created",
        "namespace/team-a created",
    ]


@pytest.mark.parametrize(
    ("second", "expected"),
    [(POD.format(name="a", app="x"), "unchanged"), (POD.format(name="a", app="y"), "configured")],
    ids=["same", "changed"],
)
def test_apply_again(cli: Cli, fake: FakeApi, tmp_path: Path, second: str, expected: str) -> None:
    cli("apply", "-f", write(tmp_path, POD.format(name="a", app="x")))

    result = cli("apply", "-f", write(tmp_path, second, "second.yaml"))

    assert result.stdout.strip() == f"pod/a {expected}"


def test_apply_prints_the_generated_name(cli: Cli, tmp_path: Path) -> None:
    manifest = POD.format(name="a", app="x").replace("name: a", "generateName: job-")

    result = cli("apply", "-f", write(tmp_path, manifest))

    assert result.stdout.strip() == "pod/job-00001 created"


@pytest.mark.parametrize(
    ("args", "text", "expected"),
    [
        (["-f", "-"], POD.format(name="s", app="x"), "pod/s created"),
        (["-f", "DIR"], None, "pod/a created\npod/b created"),
        (["-f", "JSON"], None, "pod/j created"),
        (["-f", "-"], "apiVersion: v1\nkind: List\nitems:\n- " + NAMESPACE.replace("\n", "\n  "),
         "namespace/team-a created"),
    ],
    ids=["stdin", "directory", "json-file", "list-kind"],
)  # fmt: skip
def test_apply_sources(
    cli: Cli, tmp_path: Path, args: list[str], text: str | None, expected: str
) -> None:
    (tmp_path / "d").mkdir()
    write(tmp_path / "d", POD.format(name="a", app="x"), "1.yaml")
    write(tmp_path / "d", POD.format(name="b", app="x"), "2.yml")
    write(tmp_path / "d", "ignored", "README.md")
    pod_json = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "j"},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}  # fmt: skip
    json_path = write(tmp_path, json.dumps(pod_json), "p.json")
    args = [{"DIR": str(tmp_path / "d"), "JSON": json_path}.get(a, a) for a in args]

    result = cli("apply", *args, input=text)

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == expected


@pytest.mark.parametrize(
    ("documents", "messages"),
    [
        (["- just\n- a list\n"], ["document 1 of {f}: expected a mapping"]),
        ([POD.format(name="a", app="x"), "kind: Pod\nmetadata: {name: b}\n"],
         ["document 2 of {f}: apiVersion: required"]),
        (["apiVersion: v1\nmetadata: {name: b}\n"], ["document 1 of {f}: kind: required"]),
        (["apiVersion: v1\nkind: Pod\nmetadata: {labels: {a: b}}\n"],
         ["document 1 of {f}: metadata.name: required (or metadata.generateName)"]),
        (["apiVersion: v1\nkind: Pod\nmetadata: {name: 7}\n"],
         ["metadata.name: must be a string, got an integer"]),
        (["apiVersion: v1\nkind: Pod\n"], ["document 1 of {f}: metadata: required"]),
        (["apiVersion: 1\nkind: Pod\nmetadata: []\n"],
         ["apiVersion: must be a string", "metadata: must be a mapping, got a list"]),
    ],
    ids=[
        "not-a-mapping", "second-doc-no-api-version", "no-kind", "no-name", "name-not-string",
        "no-metadata", "several-problems",
    ],
)  # fmt: skip
def test_apply_checks_every_document_before_sending_any(
    cli: Cli, fake: FakeApi, tmp_path: Path, documents: list[str], messages: list[str]
) -> None:
    path = write(tmp_path, "---\n".join(documents))

    result = cli("apply", "-f", path)

    assert result.exit_code == 1
    for message in messages:
        assert message.format(f=path) in result.stderr
    assert not [r for r in fake.requests if r.method != "GET"]


def test_malformed_yaml_names_the_line(cli: Cli, fake: FakeApi, tmp_path: Path) -> None:
    path = write(tmp_path, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n")

    result = cli("apply", "-f", path)

    assert result.exit_code == 1
    assert f"error: {path}: invalid YAML at line 5" in result.stderr
    assert fake.requests == []


def test_malformed_json_names_the_line(cli: Cli, tmp_path: Path) -> None:
    result = cli("apply", "-f", write(tmp_path, '{\n  "kind": "Pod",\n}', "bad.json"))

    assert result.exit_code == 1
    assert "invalid JSON at line 3" in result.stderr


def test_namespace_contradicting_the_manifest(cli: Cli, tmp_path: Path) -> None:
    manifest = POD.format(name="a", app="x").replace("  name: a", "  name: a\n  namespace: ml")

    result = cli("apply", "-n", "prod", "-f", write(tmp_path, manifest))

    assert result.exit_code == 1
    assert 'metadata.namespace: "ml" does not match --namespace "prod"' in result.stderr


def test_server_rejection_is_reported_and_the_rest_still_applied(
    cli: Cli, fake: FakeApi, tmp_path: Path
) -> None:
    bad = POD.format(name="bad", app="x").replace("    image: busybox\n", "")
    path = write(tmp_path, "---\n".join([bad, POD.format(name="good", app="x")]))

    result = cli("apply", "-f", path)

    assert result.exit_code == 1
    assert result.stdout.strip() == "pod/good created"
    assert f"document 1 of {path}:" in result.stderr
    assert 'Error from server (Invalid): Pod "bad" is invalid' in result.stderr
    assert "  spec.containers[0].image: image is required" in result.stderr


def test_create_refuses_existing_objects(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, POD.format(name="a", app="x"))
    assert cli("create", "-f", path).stdout.strip() == "pod/a created"

    again = cli("create", "-f", path)

    assert again.exit_code == 1
    assert 'Error from server (AlreadyExists): pods "a" already exists' in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-f", "/nonexistent/x.yaml"], "error: /nonexistent/x.yaml: no such file"),
        (["-f", "EMPTY"], "error: no objects found in"),
    ],
    ids=["missing-file", "empty-file"],
)
def test_unusable_input(cli: Cli, tmp_path: Path, args: list[str], message: str) -> None:
    empty = write(tmp_path, "---\n", "empty.yaml")
    result = cli("apply", *[empty if a == "EMPTY" else a for a in args])

    assert result.exit_code == 1
    assert message in result.stderr


def test_unknown_kind(cli: Cli, tmp_path: Path) -> None:
    manifest = "apiVersion: v9\nkind: Gadget\nmetadata: {name: g}\n"

    result = cli("apply", "-f", write(tmp_path, manifest))

    assert result.exit_code == 1
    assert 'error: the server doesn\'t have a resource type "Gadget (v9)"' in result.stderr
