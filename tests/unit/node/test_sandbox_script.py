"""The generated supervisor script: quoting, backoff schedule and structure."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dockyard.node.sandbox._script import (
    ContainerPlan,
    SupervisorPlan,
    backoff_schedule,
    quote,
    render_supervisor,
)


def plan(**overrides: object) -> SupervisorPlan:
    fields: dict[str, object] = {
        "pod_name": "web",
        "pod_uid": "u-1",
        "init_containers": (ContainerPlan("setup", ("true",), (("PATH", "/usr/bin"),), "/work"),),
        "containers": (
            ContainerPlan("main", ("echo", "hi"), (("PATH", "/usr/bin"),), "/work"),
            ContainerPlan("side", ("sleep", "1"), (("A.B", "c d"),), "/work/sub", True),
        ),
        "restart_policy": "OnFailure",
        "backoffs": (1.0, 2.0),
    }
    fields.update(overrides)
    return SupervisorPlan(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    ["plain", "with space", "it's", "'", "$HOME `id` $(id)", "back\\slash", "new\nline", ""],
    ids=[
        "plain",
        "space",
        "apostrophe",
        "lone-quote",
        "expansions",
        "backslash",
        "newline",
        "empty",
    ],
)
def test_quote_round_trips_through_sh(value: str) -> None:
    out = subprocess.run(
        ["sh", "-c", f"printf %s {quote(value)}"], capture_output=True, text=True, check=True
    )
    assert out.stdout == value


def test_quote_rejects_nul() -> None:
    with pytest.raises(ValueError, match="NUL"):
        quote("a\0b")


@pytest.mark.parametrize(
    ("initial", "maximum", "want"),
    [
        (1.0, 30.0, (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)),
        (0.5, 0.5, (0.5,)),
        (2.0, 1.0, (2.0,)),
        (0.0, 10.0, (0.0,)),
        (-1.0, 10.0, (0.0,)),
    ],
    ids=["doubling-capped", "constant", "max-below-initial", "zero", "negative"],
)
def test_backoff_schedule(initial: float, maximum: float, want: tuple[float, ...]) -> None:
    assert backoff_schedule(initial, maximum) == want


def test_backoff_schedule_is_bounded() -> None:
    steps = backoff_schedule(1e-6, 1e9)
    assert len(steps) <= 16
    assert steps == tuple(sorted(steps))


def test_script_is_valid_sh() -> None:
    script = render_supervisor(plan())
    result = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_script_runs_inits_before_apps_and_apps_in_background() -> None:
    script = render_supervisor(plan())
    init_at = script.index("run_container 0 'setup' OnFailure")
    assert init_at < script.index("app_loop 1 'main' &") < script.index("app_loop 2 'side' &")
    assert "POLICY=OnFailure" in script
    assert "BACKOFFS='1 2'" in script


@pytest.mark.parametrize(
    ("policy", "init_policy"),
    [("Never", "Never"), ("OnFailure", "OnFailure"), ("Always", "OnFailure")],
    ids=["never", "on-failure", "always"],
)
def test_init_containers_retry_unless_policy_is_never(policy: str, init_policy: str) -> None:
    script = render_supervisor(plan(restart_policy=policy))
    assert f"run_container 0 'setup' {init_policy}" in script


def test_container_gets_exact_env_working_dir_and_log() -> None:
    script = render_supervisor(plan())
    # A name sh cannot export goes through `env -i`...
    assert (
        "( mkdir -p '/work/sub' && cd '/work/sub' && exec setsid -w env -i 'A.B=c d' 'sleep' '1' )"
        " >> '/.dockyard/logs/side.log' 2>&1 < /dev/null &" in script
    )
    # ...ordinary names are exported by the subshell itself.
    assert (
        "( cd '/work' && unset OLDPWD PWD; export PATH='/usr/bin' && exec setsid -w 'echo' 'hi' )"
        in script
    )


@pytest.mark.parametrize(
    ("env", "want_env"),
    [
        ((("PATH", "/usr/bin:/bin"), ("A", "x y"), ("A", "second")), {"A": "second"}),
        ((("PATH", "/usr/bin:/bin"), ("IFS", ":"), ("A", "1")), {"A": "1", "IFS": ":"}),
        ((("PATH", "/usr/bin:/bin"), ("dotted.name", "v")), {"dotted.name": "v"}),
    ],
    ids=["exported-later-wins", "shell-special-name", "non-identifier-name"],
)
def test_launch_gives_exactly_the_container_env(
    tmp_path: Path, env: tuple[tuple[str, str], ...], want_env: dict[str, str]
) -> None:
    container = ContainerPlan("main", ("env",), env, str(tmp_path))
    script = render_supervisor(plan(init_containers=(), containers=(container,)))
    # Run just the launch function outside a sandbox, logging to tmp_path, with the
    # environment bubblewrap gives the supervisor (--clearenv --setenv PATH).
    launch = script[script.index("launch_0() {") : script.index("trap on_stop")]
    launch = launch.replace("/.dockyard/logs", str(tmp_path))
    subprocess.run(
        ["sh", "-c", f'{launch}\nlaunch_0\nwait "$cpid"'],
        env={"PATH": "/usr/bin:/bin"},
        check=True,
    )
    lines = (tmp_path / "main.log").read_text().splitlines()
    got = dict(line.split("=", 1) for line in lines)
    assert got == {"PATH": "/usr/bin:/bin", **want_env}


@pytest.mark.parametrize(
    ("argv", "error"),
    [((), "empty command"), (("A=b", "x"), "contains '='")],
    ids=["empty", "assignment-like"],
)
def test_unrunnable_commands_are_rejected(argv: tuple[str, ...], error: str) -> None:
    bad = ContainerPlan("main", argv, (), "/work")
    with pytest.raises(ValueError, match=error):
        render_supervisor(plan(containers=(bad,)))
