"""``describe``, ``delete``, ``logs``, ``wait``, ``version``, ``api-resources``; connection
and credential handling; ``up`` and ``demo`` hand-off."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest
from cli_runner import Cli, lines
from fake_api import FakeApi

import dockyard.server
from dockyard.cli import main


def failed_pod(fake: FakeApi) -> None:
    fake.put({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "labels": {"app": "etl"},
                     "ownerReferences": [{"kind": "Workflow", "name": "wf1"}]},
        "spec": {"restartPolicy": "Never", "containers": [
            {"name": "main", "image": "python:3.11", "command": ["python", "-c", "exit(3)"],
             "resources": {"requests": {"cpu": "500m"}}},
            {"name": "side", "image": "busybox"},
        ]},
        "status": {
            "phase": "Failed", "nodeName": "node-1", "reason": "Error",
            "containerStatuses": [
                {"name": "main", "restartCount": 0,
                 "state": {"terminated": {"exitCode": 3, "reason": "Error"}}},
                {"name": "side", "state": {"running": {"startedAt": "2024-01-01T00:01:00Z"}}},
            ],
            "conditions": [{"type": "Ready", "status": "False", "reason": "PodFailed"}],
        },
    })  # fmt: skip


def test_describe_pod(cli: Cli, fake: FakeApi) -> None:
    failed_pod(fake)

    result = cli("describe", "pod", "p")

    assert result.exit_code == 0, result.output
    out = lines(result.stdout)
    for expected in [
        "Name:           p",
        "Namespace:      default",
        "Kind:           Pod (v1)",
        "Labels:         app=etl",
        "Created:        2024-01-01T00:00:00Z (5m ago)",
        "Controlled By:  Workflow/wf1",
        "Status:         Failed",
        "Reason:         Error",
        "Node:           node-1",
        "  main:",
        "    Image:          python:3.11",
        "    Command:        python -c 'exit(3)'",
        "    Requests:       cpu=500m",
        "    State:          Terminated (exit code 3, Error)",
        "    State:          Running (since 2024-01-01T00:01:00Z (4m ago))",
        "  Type    Status   Reason      Message",
        "  Ready   False    PodFailed",
    ]:
        assert expected in out, expected
    assert not any("last-applied" in line for line in out)


def test_describe_other_kind_shows_spec(cli: Cli, fake: FakeApi) -> None:
    fake.put({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
              "metadata": {"name": "wf1"}, "spec": {"entrypoint": "main"},
              "status": {"phase": "Running", "progress": "1/3"}})  # fmt: skip

    out = lines(cli("describe", "wf/wf1").stdout)

    assert "Kind:           Workflow (argoproj.io/v1alpha1)" in out
    assert out[out.index("Spec:") + 1] == "  entrypoint: main"
    assert out[out.index("Status Details:") + 1] == "  progress: 1/3"


@pytest.mark.parametrize(
    ("args", "stdout", "left"),
    [
        (["pod", "a", "b"], ['pod "a" deleted', 'pod "b" deleted'], ["c"]),
        (["pod/a", "po/c"], ['pod "a" deleted', 'pod "c" deleted'], ["b"]),
        (["pods", "-l", "app=web"], ['pod "a" deleted', 'pod "b" deleted'], ["c"]),
        (["pods", "--all"], ['pod "a" deleted', 'pod "b" deleted', 'pod "c" deleted'], []),
        (["-f", "MANIFEST"], ['pod "c" deleted'], ["a", "b"]),
    ],
    ids=["kind-names", "refs", "selector", "all", "manifest"],
)
def test_delete(
    cli: Cli, fake: FakeApi, tmp_path: Path, args: list[str], stdout: list[str], left: list[str]
) -> None:
    for name, app in (("a", "web"), ("b", "web"), ("c", "db")):
        fake.put({"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": name, "labels": {"app": app}}, "spec": {}})  # fmt: skip
    manifest = tmp_path / "c.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: c}\n")

    result = cli("delete", *[str(manifest) if a == "MANIFEST" else a for a in args])

    assert result.exit_code == 0, result.output
    assert lines(result.stdout) == stdout
    assert sorted(k[3] for k in fake.objects) == left


@pytest.mark.parametrize(
    ("args", "code", "stderr"),
    [
        (["pod", "ghost"], 1, 'Error from server (NotFound): pods "ghost" not found'),
        (["pod", "ghost", "--ignore-not-found"], 0, ""),
        (["pod"], 1, "name the pod to delete, or use -l SELECTOR or --all"),
        (["pod/a", "-l", "x=y"], 1, "-l/--all select by kind"),
        ([], 1, "nothing to delete"),
    ],
    ids=["missing", "ignore-missing", "kind-only", "selector-with-names", "nothing"],
)
def test_delete_problems(cli: Cli, args: list[str], code: int, stderr: str) -> None:
    result = cli("delete", *args)

    assert result.exit_code == code
    assert stderr in result.stderr


@pytest.mark.parametrize(
    ("args", "stdout"),
    [
        (["pod/p"], "one\ntwo\n"),
        (["p", "--tail", "1"], "two\n"),
        (["p", "-c", "side"], "sidecar\n"),
        (["po/p", "-f"], "one\ntwo\n"),
    ],
    ids=["ref", "tail", "container", "follow"],
)
def test_logs(cli: Cli, fake: FakeApi, args: list[str], stdout: str) -> None:
    fake.pod("p")
    fake.logs[("default", "p")] = {"main": "one\ntwo\n", "side": "sidecar\n"}

    result = cli("logs", *args)

    assert result.exit_code == 0, result.output
    assert result.stdout == stdout
    if "-f" in args:
        assert fake.requests[-1].url.params["follow"] == "true"


def test_logs_of_another_kind_is_refused(cli: Cli) -> None:
    result = cli("logs", "workflow/w")

    assert result.exit_code == 1
    assert 'logs are kept for pods only, not "workflow"' in result.stderr


READY = {"type": "Ready", "status": "True"}


def _phase(phase: str) -> Any:
    return lambda api: api.set_status("pods", "p", phase=phase)


@pytest.mark.parametrize(
    ("args", "scripted", "code", "stdout", "stderr"),
    [
        (["pod/p", "--for=phase=Succeeded"], [_phase("Running"), _phase("Succeeded")], 0,
         "pod/p condition met", ""),
        (["pod", "p", "--for", "jsonpath={.status.phase}=Running"], [_phase("Running")], 0,
         "pod/p condition met", ""),
        (["pod/p", "--for=condition=Ready"],
         [lambda api: api.set_status("pods", "p", conditions=[READY])],
         0, "pod/p condition met", ""),
        (["pod/p", "--for=delete"], [lambda api: api.remove("pods", "p")], 0,
         "pod/p condition met", ""),
        (["pod/p", "--for=phase=Succeeded", "--timeout=0.2"], [_phase("Running")], 1, "",
         "error: timed out after 0.2s waiting for pod/p to reach phase=Succeeded: "
         "phase is Running"),
        (["pod/p", "--for=phase=Succeeded"], [_phase("Failed")], 1, "",
         "error: pod/p will not reach phase=Succeeded: phase is Failed, which is final"),
        (["pod/p", "--for=phase"], [], 1, "", 'error: invalid --for "phase"'),
        (["pod/p", "--for=delete", "--timeout=soon"], [], 1, "", 'error: invalid duration "soon"'),
        (["pod", "--for=delete"], [], 1, "", 'name the pod to use'),
    ],
    ids=[
        "phase", "jsonpath-phase", "condition", "delete", "timeout", "final-phase",
        "bad-for", "bad-timeout", "no-name",
    ],
)  # fmt: skip
def test_wait(
    cli: Cli,
    fake: FakeApi,
    args: list[str],
    scripted: list[Any],
    code: int,
    stdout: str,
    stderr: str,
) -> None:
    fake.pod("p")
    fake.on_watch.extend(scripted)

    result = cli("wait", *args)

    assert result.exit_code == code, result.output
    assert result.stdout.strip() == stdout
    assert stderr in result.stderr


@pytest.mark.parametrize(
    ("args", "stdout"),
    [
        ([], "Client Version: 0.1.0\nServer Version: 0.1.0\n"),
        (["--client"], "Client Version: 0.1.0\n"),
        (["-o", "json"], '"serverVersion": {\n    "version": "0.1.0"'),
    ],
    ids=["both", "client-only", "json"],
)
def test_version(cli: Cli, args: list[str], stdout: str) -> None:
    result = cli("version", *args)

    assert result.exit_code == 0
    assert stdout in result.stdout


def test_unreachable_server_suggests_dockyard_up(cli: Cli, fake: FakeApi) -> None:
    fake.refuse_connections = True

    result = cli("get", "pods")

    assert result.exit_code == 1
    assert "error: cannot connect to the Dockyard server at http://dockyard.test" in result.stderr
    assert "Start one with: dockyard up" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "env", "code"),
    [
        (["--token", "s3cret"], {}, 0),
        ([], {"DOCKYARD_TOKEN": "s3cret"}, 0),
        ([], {"DOCKYARD_DATA_DIR": "TOKEN_DIR"}, 0),
        (["--token", "wrong"], {}, 1),
    ],
    ids=["option", "env", "data-dir-token-file", "wrong"],
)
def test_token_sources(
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    code: int,
) -> None:
    cli.fake.token = "s3cret"
    (tmp_path / "token").write_text("s3cret\n")
    for key, value in env.items():
        monkeypatch.setenv(key, str(tmp_path) if value == "TOKEN_DIR" else value)

    result = cli(*args, "get", "pods")

    assert result.exit_code == code
    if code:
        assert "Error from server (Unauthorized)" in result.stderr
        assert "Pass --token or set DOCKYARD_TOKEN" in result.stderr


def test_api_resources(cli: Cli) -> None:
    out = lines(cli("api-resources").stdout)

    assert out[0].split() == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    assert out[4].split() == ["workflows.argoproj.io", "wf", "argoproj.io/v1alpha1", "true",
                              "Workflow"]  # fmt: skip


class Recorder:
    """Stands in for the control plane entry points."""

    def __init__(self) -> None:
        self.configs: list[Any] = []

    def config(self, **kwargs: Any) -> types.SimpleNamespace:
        return types.SimpleNamespace(**kwargs)

    def run(self, config: Any) -> None:
        self.configs.append(config)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], {"host": "127.0.0.1", "port": 7420, "data_dir": Path("/nonexistent"),
              "no_auth": False, "tls": False, "virtual_nodes": 0, "virtual_gpus": 0}),
        (["--host", "0.0.0.0", "--port", "9000", "--tls", "--virtual-nodes", "3",
          "--virtual-gpus", "8", "--data-dir", "/srv/d"],
         {"host": "0.0.0.0", "port": 9000, "tls": True, "virtual_nodes": 3, "virtual_gpus": 8,
          "data_dir": Path("/srv/d")}),
        (["--no-auth"], {"no_auth": True}),
    ],
    ids=["defaults", "everything", "no-auth"],
)  # fmt: skip
def test_up_starts_the_control_plane(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, args: list[str], expected: dict[str, Any]
) -> None:
    recorder = Recorder()
    monkeypatch.setattr(dockyard.server, "ControlPlaneConfig", recorder.config, raising=False)
    monkeypatch.setattr(dockyard.server, "run_control_plane", recorder.run, raising=False)

    result = cli("up", *args)

    assert result.exit_code == 0, result.output
    (config,) = recorder.configs
    assert vars(config).items() >= expected.items()


def test_up_uses_the_global_data_dir(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(dockyard.server, "ControlPlaneConfig", recorder.config, raising=False)
    monkeypatch.setattr(dockyard.server, "run_control_plane", recorder.run, raising=False)

    cli("--data-dir", "/g", "up")

    assert recorder.configs[0].data_dir == Path("/g")


def test_up_reports_a_failed_start(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def busy(config: Any) -> None:
        raise OSError("[Errno 98] Address already in use")

    monkeypatch.setattr(dockyard.server, "ControlPlaneConfig", Recorder().config, raising=False)
    monkeypatch.setattr(dockyard.server, "run_control_plane", busy, raising=False)

    result = cli("up")

    assert result.exit_code == 1
    assert "error: cannot start the control plane: [Errno 98] Address already in use" in (
        result.stderr
    )


def test_demo_hands_over(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    module = types.ModuleType("dockyard.cli.demo")
    module.run_demo = lambda **kwargs: calls.append(kwargs)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dockyard.cli.demo", module)

    result = cli("demo", "--data-dir", "/tmp/d", "--keep")

    assert result.exit_code == 0, result.output
    assert calls == [{"data_dir": Path("/tmp/d"), "keep": True}]


def test_main_is_the_console_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["dockyard", "--help"])

    with pytest.raises(SystemExit) as exited:
        main()

    assert exited.value.code == 0
