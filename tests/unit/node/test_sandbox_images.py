"""The image table: which images run, on what, with which command."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dockyard.node.sandbox import (
    ImageRuntime,
    UnknownImageError,
    _images,
    register_image,
    resolve_image,
    supported_images,
)


@pytest.fixture
def restore_table() -> Iterator[None]:
    table, resolved = dict(_images._table), dict(_images._resolved)
    yield
    _images._table.clear()
    _images._table.update(table)
    _images._resolved.clear()
    _images._resolved.update(resolved)


@pytest.mark.parametrize(
    ("image", "runtime"),
    [
        ("busybox", "shell"),
        ("busybox:1.36", "shell"),
        ("alpine:3.19", "shell"),
        ("debian:bookworm-slim", "shell"),
        ("ubuntu@sha256:abc", "shell"),
        ("docker.io/library/ubuntu:22.04", "shell"),
        ("python:3.11", "python"),
        ("python:3.12-slim", "python"),
        ("library/python", "python"),
    ],
    ids=lambda v: str(v),
)
def test_supported_images_resolve(image: str, runtime: str) -> None:
    assert resolve_image(image).name == runtime


@pytest.mark.parametrize(
    "image",
    ["nginx", "busyboxes", "pythonista:1", "quay.io/busybox", "myorg/python:3.11", ""],
    ids=lambda v: v or "empty",
)
def test_unknown_images_raise_naming_the_supported_ones(image: str) -> None:
    with pytest.raises(UnknownImageError) as info:
        resolve_image(image)
    assert info.value.image == image
    for supported in ("alpine", "busybox", "debian", "python", "ubuntu"):
        assert supported in str(info.value)


def test_python_runtime_links_python_and_python3() -> None:
    runtime = resolve_image("python:3.11")
    links = dict(runtime.bin_links)
    assert set(links) == {"python", "python3"}
    assert links["python"] == links["python3"]
    assert links["python"].startswith("/usr/")
    assert runtime.cmd == ("python3",)


@pytest.mark.parametrize(
    ("command", "args", "want"),
    [
        ([], [], ["sh"]),
        (["echo"], [], ["echo"]),
        (["echo"], ["a", "b"], ["echo", "a", "b"]),
        ([], ["ls", "-l"], ["ls", "-l"]),
    ],
    ids=["image-default", "command", "command-and-args", "args-replace-cmd"],
)
def test_argv_follows_kubernetes_command_and_args(
    command: list[str], args: list[str], want: list[str]
) -> None:
    assert resolve_image("busybox").argv(command, args) == want


def test_entrypoint_keeps_args() -> None:
    runtime = ImageRuntime("shim", "test", cmd=("--help",), entrypoint=("argosay",))
    assert runtime.argv([], []) == ["argosay", "--help"]
    assert runtime.argv([], ["echo", "hi"]) == ["argosay", "echo", "hi"]
    assert runtime.argv(["other"], ["x"]) == ["other", "x"]


@pytest.mark.usefixtures("restore_table")
def test_register_image_tagged_prefix_wins_over_repository() -> None:
    shim = ImageRuntime("argosay", "shim", cmd=(), entrypoint=("argosay",))
    generic = ImageRuntime("argo-any", "any tag", cmd=("sh",))
    register_image("argoproj/argosay", generic)
    register_image("argoproj/argosay:v2", shim)

    assert resolve_image("argoproj/argosay:v2").name == "argosay"
    assert resolve_image("docker.io/argoproj/argosay:v2").name == "argosay"
    assert resolve_image("argoproj/argosay:v1").name == "argo-any"
    assert "argoproj/argosay:v2" in supported_images()


@pytest.mark.usefixtures("restore_table")
def test_register_image_factory_runs_once_and_failures_name_the_image() -> None:
    calls: list[int] = []

    def factory() -> ImageRuntime:
        calls.append(1)
        return ImageRuntime("lazy", "lazy", cmd=("sh",))

    def broken() -> ImageRuntime:
        raise UnknownImageError("x", "tool not installed")

    register_image("lazy", factory)
    register_image("broken", broken)

    assert resolve_image("lazy:1").name == resolve_image("lazy:2").name == "lazy"
    assert calls == [1]
    with pytest.raises(UnknownImageError, match=r"'broken:1'.*tool not installed"):
        resolve_image("broken:1")
