"""The operator's semantics, in virtual time against an in-memory world: retries and
backoff, parallelism, suspend, deadlines, exit handlers, continueOn, failFast, loops,
memoization, synchronization and hooks, ending in the phases Argo gives them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_driver import FakeEnv, PodOutcome, phases, run, workflow

SH = {"image": "busybox", "command": ["sh", "-c"]}


def container(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "container": {**SH, "args": [script]}, **extra}


@pytest.fixture
def env(tmp_path: Path) -> FakeEnv:
    return FakeEnv(tmp_path)


CASES: list[tuple[str, dict[str, Any], str, dict[str, str]]] = [
    (
        "continue-on-failed",
        {
            "entrypoint": "main",
            "templates": [
                {
                    "name": "main",
                    "steps": [
                        [{"name": "flaky", "template": "fail", "continueOn": {"failed": True}}],
                        [
                            {
                                "name": "after",
                                "template": "ok",
                                "when": "{{steps.flaky.status}} == Failed",
                            }
                        ],
                    ],
                },
                container("fail", "exit 1"),
                container("ok", "exit 0"),
            ],
        },
        "Succeeded",
        {"flaky": "Failed", "after": "Succeeded"},
    ),
    (
        "failed-step-fails-workflow",
        {
            "entrypoint": "main",
            "templates": [
                {
                    "name": "main",
                    "steps": [
                        [{"name": "a", "template": "fail"}],
                        [{"name": "b", "template": "ok"}],
                    ],
                },
                container("fail", "exit 3"),
                container("ok", "exit 0"),
            ],
        },
        "Failed",
        {"a": "Failed", "[0]": "Failed"},
    ),
    (
        "failing-exit-handler-fails-succeeded-workflow",
        {
            "entrypoint": "ok",
            "onExit": "bad",
            "templates": [container("ok", "exit 0"), container("bad", "exit 2")],
        },
        "Failed",
        {"wf.onExit": "Failed"},
    ),
    (
        "exit-handler-sees-status",
        {
            "entrypoint": "fail",
            "onExit": "report",
            "templates": [
                container("fail", "exit 1"),
                {
                    "name": "report",
                    "steps": [
                        [
                            {
                                "name": "on-failure",
                                "template": "ok",
                                "when": "{{workflow.status}} == Failed",
                            },
                            {
                                "name": "on-success",
                                "template": "ok",
                                "when": "{{workflow.status}} == Succeeded",
                            },
                        ]
                    ],
                },
                container("ok", "exit 0"),
            ],
        },
        "Failed",
        {"on-failure": "Succeeded", "on-success": "Skipped"},
    ),
    (
        "dag-enhanced-depends",
        {
            "entrypoint": "d",
            "templates": [
                {
                    "name": "d",
                    "dag": {
                        "tasks": [
                            {"name": "A", "template": "ok"},
                            {"name": "C", "template": "fail", "depends": "A"},
                            {"name": "handled", "template": "ok", "depends": "C.Failed"},
                            {"name": "not-run", "template": "ok", "depends": "C"},
                            {"name": "last", "template": "ok", "depends": "handled || not-run"},
                        ]
                    },
                },
                container("ok", "exit 0"),
                container("fail", "exit 1"),
            ],
        },
        "Succeeded",
        {"C": "Failed", "handled": "Succeeded", "not-run": "Omitted", "last": "Succeeded"},
    ),
    (
        "dag-omitted-leaf-inherits-failure",
        {
            "entrypoint": "d",
            "templates": [
                {
                    "name": "d",
                    "dag": {
                        "tasks": [
                            {"name": "A", "template": "fail"},
                            {"name": "B", "template": "ok", "dependencies": ["A"]},
                        ]
                    },
                },
                container("ok", "exit 0"),
                container("fail", "exit 1"),
            ],
        },
        "Failed",
        {"A": "Failed", "B": "Omitted"},
    ),
    (
        "dag-continue-on-dependencies",
        {
            "entrypoint": "d",
            "templates": [
                {
                    "name": "d",
                    "dag": {
                        "tasks": [
                            {"name": "A", "template": "fail", "continueOn": {"failed": True}},
                            {"name": "B", "template": "ok", "dependencies": ["A"]},
                        ]
                    },
                },
                container("ok", "exit 0"),
                container("fail", "exit 1"),
            ],
        },
        "Succeeded",
        {"A": "Failed", "B": "Succeeded"},
    ),
    (
        "with-sequence-format",
        {
            "entrypoint": "main",
            "templates": [
                {
                    "name": "main",
                    "steps": [
                        [
                            {
                                "name": "s",
                                "template": "echo",
                                "withSequence": {"start": "2", "end": "4", "format": "n%02d"},
                                "arguments": {"parameters": [{"name": "v", "value": "{{item}}"}]},
                            }
                        ]
                    ],
                },
                {
                    "name": "echo",
                    "inputs": {"parameters": [{"name": "v"}]},
                    "container": {**SH, "args": ["echo {{inputs.parameters.v}}"]},
                },
            ],
        },
        "Succeeded",
        {"s(0:n02)": "Succeeded", "s(1:n03)": "Succeeded", "s(2:n04)": "Succeeded"},
    ),
    (
        "enum-rejects-value",
        {
            "entrypoint": "main",
            "arguments": {"parameters": [{"name": "color", "value": "pink"}]},
            "templates": [
                {
                    "name": "main",
                    "inputs": {"parameters": [{"name": "color", "enum": ["red", "blue"]}]},
                    "container": {**SH, "args": ["exit 0"]},
                }
            ],
        },
        "Error",
        {},
    ),
    (
        "empty-with-param-skips",
        {
            "entrypoint": "main",
            "templates": [
                {
                    "name": "main",
                    "steps": [[{"name": "loop", "template": "ok", "withParam": "[]"}]],
                },
                container("ok", "exit 0"),
            ],
        },
        "Succeeded",
        {"loop": "Skipped"},
    ),
]


@pytest.mark.parametrize(
    ("spec", "phase", "nodes"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_workflow_phases(
    env: FakeEnv, spec: dict[str, Any], phase: str, nodes: dict[str, str]
) -> None:
    wf = run(env, workflow(spec))
    assert wf["status"]["phase"] == phase, wf["status"].get("message")
    seen = phases(wf)
    assert {k: seen.get(k) for k in nodes} == nodes


def retry_spec(strategy: dict[str, Any]) -> dict[str, Any]:
    return {
        "entrypoint": "flaky",
        "templates": [container("flaky", "exit 1", retryStrategy=strategy)],
    }


RETRY_CASES = [
    ("limit-2", {"limit": 2}, 3, None),
    ("limit-as-string", {"limit": "1"}, 2, None),
    ("on-error-does-not-retry-failures", {"limit": 3, "retryPolicy": "OnError"}, 1, None),
    ("always", {"limit": 1, "retryPolicy": "Always"}, 2, None),
    (
        "expression-false",
        {"limit": 5, "expression": "lastRetry.exitCode == 2"},
        1,
        "retryStrategy.expression evaluated to false",
    ),
    (
        "backoff-max-duration",
        {"limit": 10, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "25s"}},
        2,
        "Max duration limit exceeded",
    ),
]


@pytest.mark.parametrize(
    ("strategy", "attempts", "message"),
    [c[1:] for c in RETRY_CASES],
    ids=[c[0] for c in RETRY_CASES],
)
def test_retries(
    env: FakeEnv, strategy: dict[str, Any], attempts: int, message: str | None
) -> None:
    wf = run(env, workflow(retry_spec(strategy)))
    assert wf["status"]["phase"] == "Failed"
    retry = next(n for n in wf["status"]["nodes"].values() if n["type"] == "Retry")
    assert len(retry["children"]) == attempts
    assert len(env.created) == attempts
    if message:
        assert retry["message"] == message


def test_backoff_waits_in_virtual_time(env: FakeEnv) -> None:
    start = env.clock
    wf = run(env, workflow(retry_spec({"limit": 2, "backoff": {"duration": "5s", "factor": 2}})))
    retry = next(n for n in wf["status"]["nodes"].values() if n["type"] == "Retry")
    assert len(retry["children"]) == 3
    assert (env.clock - start).total_seconds() >= 5 + 10


def test_retry_succeeds_on_second_attempt(env: FakeEnv) -> None:
    attempts: list[str] = []

    def flaky(pod: dict[str, Any]) -> PodOutcome:
        attempts.append(pod["metadata"]["name"])
        return PodOutcome(1 if len(attempts) == 1 else 0, "ok")

    wf = run(env, workflow(retry_spec({"limit": 3})), flaky)
    assert wf["status"]["phase"] == "Succeeded"
    assert phases(wf)["wf"] == "Succeeded"
    assert [phases(wf)[f"wf({i})"] for i in range(2)] == ["Failed", "Succeeded"]


@pytest.mark.parametrize(
    ("level", "limit"), [("workflow", 1), ("template", 2)], ids=["workflow", "template"]
)
def test_parallelism(env: FakeEnv, level: str, limit: int) -> None:
    steps = {
        "name": "main",
        "steps": [
            [
                {"name": "s", "template": "ok", "withItems": [1, 2, 3, 4, 5]},
            ]
        ],
    }
    spec: dict[str, Any] = {"entrypoint": "main", "templates": [steps, container("ok", "exit 0")]}
    if level == "workflow":
        spec["parallelism"] = limit
    else:
        steps["parallelism"] = limit
    wf = run(env, workflow(spec), _two_pass_fresh())
    assert wf["status"]["phase"] == "Succeeded"
    assert len(env.created) == 5
    assert env.max_active <= limit


def test_suspend_duration_resumes_by_itself(env: FakeEnv) -> None:
    spec = {
        "entrypoint": "main",
        "templates": [
            {
                "name": "main",
                "steps": [
                    [{"name": "wait", "template": "pause"}],
                    [{"name": "after", "template": "ok"}],
                ],
            },
            {"name": "pause", "suspend": {"duration": "30s"}},
            container("ok", "exit 0"),
        ],
    }
    start = env.clock
    wf = run(env, workflow(spec))
    assert wf["status"]["phase"] == "Succeeded"
    assert (env.clock - start).total_seconds() >= 30
    assert phases(wf)["wait"] == "Succeeded"


def test_suspend_waits_for_resume(env: FakeEnv) -> None:
    spec = {
        "entrypoint": "main",
        "templates": [
            {"name": "main", "steps": [[{"name": "approve", "template": "pause"}]]},
            {"name": "pause", "suspend": {}},
        ],
    }

    def resume_after_ten(wf: dict[str, Any], index: int) -> None:
        if index == 10:
            for node in wf["status"]["nodes"].values():
                if node["type"] == "Suspend":
                    node["phase"] = "Succeeded"

    wf = run(env, workflow(spec), between=resume_after_ten)
    assert wf["status"]["phase"] == "Succeeded"
    assert phases(wf)["approve"] == "Succeeded"


def test_workflow_deadline_stops_running_pods(env: FakeEnv) -> None:
    spec = {
        "entrypoint": "main",
        "activeDeadlineSeconds": 5,
        "templates": [container("main", "sleep 100")],
    }
    wf = run(env, workflow(spec))
    assert wf["status"]["phase"] == "Failed"
    assert phases(wf)["wf"] == "Failed"
    assert env.deleted == env.created
    assert env.created and env.pods == {}


def test_steps_timeout_fails_the_template(env: FakeEnv) -> None:
    spec = {
        "entrypoint": "main",
        "templates": [
            {"name": "main", "timeout": "10s", "steps": [[{"name": "long", "template": "long"}]]},
            container("long", "sleep 100"),
        ],
    }
    wf = run(env, workflow(spec))
    assert wf["status"]["phase"] == "Failed"
    assert phases(wf)["long"] == "Failed"
    assert wf["status"]["nodes"]["wf"]["message"].startswith("Step exceeded its deadline")


def test_stop_runs_exit_handler_terminate_does_not(env: FakeEnv) -> None:
    spec = {
        "entrypoint": "main",
        "onExit": "cleanup",
        "templates": [container("main", "sleep 100"), container("cleanup", "exit 0")],
    }
    for strategy, expect_exit in (("Stop", True), ("Terminate", False)):
        local = FakeEnv(env.files_root / strategy)
        wf = workflow(spec, name=f"wf-{strategy.lower()}")

        def shut(w: dict[str, Any], index: int, strategy: str = strategy) -> None:
            if index == 2:
                w["spec"]["shutdown"] = strategy

        result = run(local, wf, between=shut)
        assert result["status"]["phase"] == "Failed"
        assert result["status"]["message"] == f"Stopped with strategy '{strategy}'"
        ran_exit = any(n["name"].endswith(".onExit") for n in result["status"]["nodes"].values())
        assert ran_exit is expect_exit


def test_outputs_parameters_and_globals(env: FakeEnv) -> None:
    spec = {
        "entrypoint": "main",
        "templates": [
            {
                "name": "main",
                "steps": [
                    [{"name": "gen", "template": "gen"}],
                    [
                        {
                            "name": "use",
                            "template": "echo",
                            "arguments": {
                                "parameters": [
                                    {"name": "v", "value": "{{steps.gen.outputs.parameters.out}}"}
                                ]
                            },
                        }
                    ],
                ],
            },
            {
                "name": "gen",
                "container": {**SH, "args": ["echo hi"]},
                "outputs": {
                    "parameters": [
                        {"name": "out", "globalName": "g", "valueFrom": {"path": "/tmp/o"}}
                    ]
                },
            },
            {
                "name": "echo",
                "inputs": {"parameters": [{"name": "v"}]},
                "container": {**SH, "args": ["echo {{inputs.parameters.v}}"]},
            },
        ],
    }

    def write(pod: dict[str, Any]) -> PodOutcome:
        return PodOutcome(0, "x", {"/tmp/o": "value-1\n"})

    wf = run(env, workflow(spec), write)
    assert wf["status"]["phase"] == "Succeeded"
    use = next(n for n in wf["status"]["nodes"].values() if n["displayName"] == "use")
    assert use["inputs"]["parameters"][0]["value"] == "value-1"
    assert wf["status"]["outputs"]["parameters"] == [{"name": "g", "value": "value-1"}]


def test_missing_output_without_default_errors(env: FakeEnv) -> None:
    spec = {
        "entrypoint": "gen",
        "templates": [
            {
                "name": "gen",
                "container": {**SH, "args": ["true"]},
                "outputs": {"parameters": [{"name": "out", "valueFrom": {"path": "/tmp/never"}}]},
            },
        ],
    }
    wf = run(env, workflow(spec))
    assert wf["status"]["phase"] == "Error"


def test_memoization_reuses_outputs(env: FakeEnv) -> None:
    spec = {
        "entrypoint": "gen",
        "templates": [
            {
                "name": "gen",
                "memoize": {"key": "k1", "cache": {"configMap": {"name": "c"}}},
                "container": {**SH, "args": ["echo hi"]},
            },
        ],
    }
    first = run(env, workflow(spec, "first"))
    second = run(env, workflow(spec, "second"))
    assert first["status"]["phase"] == second["status"]["phase"] == "Succeeded"
    assert len(env.created) == 1
    node = second["status"]["nodes"]["second"]
    assert node["memoizationStatus"]["hit"] is True
    assert node["outputs"]["result"] == "hi"


def test_semaphore_serialises_templates(env: FakeEnv) -> None:
    spec = {
        "entrypoint": "main",
        "templates": [
            {
                "name": "main",
                "steps": [[{"name": "s", "template": "locked", "withItems": [1, 2, 3]}]],
            },
            {
                **container("locked", "exit 0"),
                "synchronization": {
                    "semaphore": {"configMapKeyRef": {"name": "my-config", "key": "workflow"}}
                },
            },
        ],
    }
    wf = run(env, workflow(spec), _two_pass_fresh())
    assert wf["status"]["phase"] == "Succeeded"
    assert env.max_active == 1


def _two_pass_fresh() -> Any:
    counts: dict[str, int] = {}

    def behaviour(pod: dict[str, Any]) -> PodOutcome | None:
        name = pod["metadata"]["name"]
        counts[name] = counts.get(name, 0) + 1
        return None if counts[name] == 1 else PodOutcome()

    return behaviour


def test_step_exit_hook_gets_step_outputs(env: FakeEnv) -> None:
    spec = {
        "entrypoint": "main",
        "templates": [
            {
                "name": "main",
                "steps": [
                    [
                        {
                            "name": "work",
                            "template": "ok",
                            "hooks": {
                                "exit": {
                                    "template": "echo",
                                    "arguments": {
                                        "parameters": [
                                            {"name": "v", "value": "{{steps.work.status}}"}
                                        ]
                                    },
                                }
                            },
                        }
                    ]
                ],
            },
            container("ok", "echo done"),
            {
                "name": "echo",
                "inputs": {"parameters": [{"name": "v"}]},
                "container": {**SH, "args": ["echo {{inputs.parameters.v}}"]},
            },
        ],
    }
    wf = run(env, workflow(spec))
    assert wf["status"]["phase"] == "Succeeded"
    hook = next(n for n in wf["status"]["nodes"].values() if n["name"].endswith(".onExit"))
    assert hook["inputs"]["parameters"][0]["value"] == "Succeeded"


def test_loop_outputs_aggregate(env: FakeEnv) -> None:
    spec = {
        "entrypoint": "d",
        "templates": [
            {
                "name": "d",
                "dag": {
                    "tasks": [
                        {"name": "gen", "template": "ok", "withItems": ["a", "b"]},
                        {
                            "name": "use",
                            "template": "echo",
                            "depends": "gen",
                            "arguments": {
                                "parameters": [
                                    {"name": "v", "value": "{{tasks.gen.outputs.result}}"}
                                ]
                            },
                        },
                    ]
                },
            },
            container("ok", "echo {{item}}"),
            {
                "name": "echo",
                "inputs": {"parameters": [{"name": "v"}]},
                "container": {**SH, "args": ["echo x"]},
            },
        ],
    }
    spec["templates"][1]["container"]["args"] = ["echo out"]

    def numbered(pod: dict[str, Any]) -> PodOutcome:
        return PodOutcome(0, '{"n": 1}')

    wf = run(env, workflow(spec), numbered)
    use = next(n for n in wf["status"]["nodes"].values() if n["displayName"] == "use")
    assert use["inputs"]["parameters"][0]["value"] == '[{"n":1},{"n":1}]'
