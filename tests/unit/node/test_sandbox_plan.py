"""Validating a Pod spec and mapping it onto bubblewrap arguments (nothing is run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.node.sandbox import SandboxError, UnknownImageError, VolumeMountSpec
from dockyard.node.sandbox._bwrap import bwrap_args, launcher_argv
from dockyard.node.sandbox._layout import StateLayout
from dockyard.node.sandbox._plan import plan_pod
from dockyard.node.sandbox.testing import PodSpecBuilder, make_pod


def pairs(args: list[str], flag: str) -> list[tuple[str, str]]:
    """(source, dest) of every occurrence of a two-argument bubblewrap flag."""
    return [(args[i + 1], args[i + 2]) for i, a in enumerate(args) if a == flag]


def args_for(builder: PodSpecBuilder) -> list[str]:
    return bwrap_args(plan_pod(builder.build()).bwrap)


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda p: p.sh("bad/name", "true"), "container name 'bad/name' is invalid"),
        (lambda p: p.sh("a", "true").sh("a", "true"), "'a' is used twice"),
        (lambda p: p.sh("a", "true", mounts=[VolumeMountSpec("nope", "/x")]), "unknown volume"),
        (
            lambda p: p.empty_dir("v").sh("a", "true", mounts=[VolumeMountSpec("v", "/usr/x")]),
            "cannot mount a volume at /usr/x",
        ),
        (
            lambda p: p.empty_dir("v").sh("a", "true", mounts=[VolumeMountSpec("v", "rel")]),
            "normalised absolute path",
        ),
        (
            lambda p: p.empty_dir("v").sh("a", "true", mounts=[VolumeMountSpec("v", "/a/../b")]),
            "normalised absolute path",
        ),
        (lambda p: p.host_path("h", "/no/such/dir").sh("a", "true"), "does not exist"),
        (lambda p: p.empty_dir("v").empty_dir("v").sh("a", "true"), "defined twice"),
        (
            lambda p: p.empty_dir("v")
            .empty_dir("w")
            .sh("a", "true", mounts=[VolumeMountSpec("v", "/data")])
            .sh("b", "true", mounts=[VolumeMountSpec("w", "/data")]),
            "share one filesystem view",
        ),
        (lambda p: p.sh("a", "true", env={"A=B": "x"}), "invalid environment name"),
        (lambda p: p.sh("a", "true", working_dir="work"), "working_dir"),
        (lambda p: p.hostname("bad host").sh("a", "true"), "not a valid host name"),
        (lambda p: p.container("a", "X=1"), "contains '='"),
        (lambda p: p, "has no containers"),
    ],
    ids=[
        "bad-container-name", "duplicate-container", "unknown-volume", "reserved-mount-path",
        "relative-mount-path", "dotdot-mount-path", "missing-host-path", "duplicate-volume",
        "two-volumes-one-path", "bad-env-name", "relative-working-dir", "bad-hostname",
        "assignment-command", "no-containers",
    ],
)  # fmt: skip
def test_invalid_specs_are_rejected_with_the_reason(
    tmp_path: Path, build: object, error: str
) -> None:
    builder = build(make_pod(tmp_path / "pod"))  # type: ignore[operator]
    with pytest.raises(SandboxError, match=error.replace("(", r"\(")):
        plan_pod(builder.build())


def test_unknown_image_is_reported_as_such(tmp_path: Path) -> None:
    with pytest.raises(UnknownImageError):
        plan_pod(make_pod(tmp_path).container("a", "x", image="redis:7").build())


@pytest.mark.parametrize(("network", "shared"), [(False, False), (True, True)], ids=["no", "yes"])
def test_network_namespace_is_private_unless_asked(
    tmp_path: Path, network: bool, shared: bool
) -> None:
    args = args_for(make_pod(tmp_path).network(network).sh("a", "true"))
    assert "--unshare-all" in args
    assert ("--share-net" in args) is shared


def test_sandbox_hardening_flags(tmp_path: Path) -> None:
    args = args_for(make_pod(tmp_path).hostname("h-1").sh("a", "true"))
    for flag in ("--die-with-parent", "--new-session", "--clearenv"):
        assert flag in args
    assert args[args.index("--cap-drop") + 1] == "ALL"
    assert args[args.index("--hostname") + 1] == "h-1"
    assert args[args.index("--uid") + 1] == args[args.index("--gid") + 1] == "65534"
    # The root is made read-only after every mount and before the command.
    assert args.index("--remount-ro") > max(i for i, a in enumerate(args) if a == "--bind")
    assert args[-2:] == ["/bin/sh", "/.dockyard/supervisor.sh"]


def test_only_listed_etc_files_are_visible(tmp_path: Path) -> None:
    args = args_for(make_pod(tmp_path).sh("a", "true"))
    etc = {dest for _, dest in pairs(args, "--ro-bind-try") if dest.startswith("/etc/")}
    assert "/etc/passwd" in etc and "/etc/resolv.conf" in etc and "/etc/ssl" in etc
    assert not any("shadow" in path for path in etc)
    assert all(dest != "/etc" for _, dest in pairs(args, "--ro-bind"))


def test_tmp_is_a_size_capped_tmpfs(tmp_path: Path) -> None:
    args = args_for(make_pod(tmp_path).memory(64 << 20).sh("a", "true"))
    i = args.index("--tmpfs")
    assert args[i + 1] == "/tmp"
    assert args[i - 2 : i] == ["--size", str(64 << 20)]


def test_volumes_map_to_state_dir_and_host_paths(tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    builder = (
        make_pod(tmp_path / "pod")
        .empty_dir("cache")
        .host_path("data", host)
        .host_path("out", host, read_only=False)
        .sh("a", "true", mounts=[VolumeMountSpec("cache", "/cache"),
                                 VolumeMountSpec("data", "/data"),
                                 VolumeMountSpec("out", "/out")])
        .sh("b", "true", mounts=[VolumeMountSpec("out", "/out", read_only=True)])
    )  # fmt: skip
    args = args_for(builder)
    layout = StateLayout(tmp_path / "pod")

    binds = pairs(args, "--bind")
    assert (str(layout.work), "/work") in binds
    assert (str(layout.volume("cache")), "/cache") in binds
    # hostPath is read-only by default; a volume is writable if any container mounts it so.
    assert (str(host), "/data") in pairs(args, "--ro-bind")
    assert (str(host), "/out") in binds


def test_working_dirs_outside_mounts_get_their_own_directory(tmp_path: Path) -> None:
    plan = plan_pod(
        make_pod(tmp_path / "pod")
        .sh("a", "true", working_dir="/app")
        .sh("b", "true", working_dir="/app")
        .sh("c", "true", working_dir="/work/sub")
        .sh("d", "true", working_dir="/tmp")
        .build()
    )
    assert plan.extra_dirs == 1
    binds = pairs(bwrap_args(plan.bwrap), "--bind")
    assert (str(StateLayout(tmp_path / "pod").extra_dir(0)), "/app") in binds
    made = {c.name: c.make_working_dir for c in plan.supervisor.containers}
    assert made == {"a": False, "b": False, "c": True, "d": False}


def test_container_env_order_puts_node_env_last(tmp_path: Path) -> None:
    plan = plan_pod(
        make_pod(tmp_path)
        .hostname("h")
        .extra_env(CUDA_VISIBLE_DEVICES="1")
        .sh("a", "true", env={"CUDA_VISIBLE_DEVICES": "0,1", "X": "y"}, working_dir="/work")
        .build()
    )
    env = plan.supervisor.containers[0].env
    assert [k for k, _ in env][:3] == ["PATH", "HOME", "HOSTNAME"]
    assert dict(env)["CUDA_VISIBLE_DEVICES"] == "1"  # later entries win under env -i
    assert env[-1] == ("CUDA_VISIBLE_DEVICES", "1")


def test_python_image_puts_its_bin_dir_first_on_path(tmp_path: Path) -> None:
    plan = plan_pod(make_pod(tmp_path).python("a", "pass").build())
    path = dict(plan.supervisor.containers[0].env)["PATH"]
    assert path.startswith("/.dockyard/images/python/bin:")
    links = pairs(bwrap_args(plan.bwrap), "--symlink")
    assert {dest for _, dest in links} >= {
        "/.dockyard/images/python/bin/python",
        "/.dockyard/images/python/bin/python3",
    }


def test_launcher_joins_cgroups_then_drops_privileges(tmp_path: Path) -> None:
    layout = StateLayout(tmp_path)
    procs = [Path("/cg/a/cgroup.procs"), Path("/cg/b/cgroup.procs")]
    argv = launcher_argv(layout, procs, ["bwrap", "--x"])
    assert argv[:2] == ["/bin/sh", "-c"]
    script = argv[2]
    assert script.index('echo $$ > "$1"') < script.index("exec setpriv")
    assert "--reuid=65534" in script and "--no-new-privs" in script
    assert argv[4:] == [str(tmp_path), argv[5], "2", *map(str, procs), "bwrap", "--x"]
