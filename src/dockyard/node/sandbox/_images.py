"""Image table: maps container image references onto the host's userland.

Node layer. Dockyard has no image store; a sandbox sees the host's read-only /usr. This
module decides, per image reference, which host programs a container gets and what it runs
when it names no command. Shell images (busybox, alpine, debian, ubuntu) all map to the host's
shell userland and their tag is ignored; `python:*` maps to the host's python3 whatever the tag.
Later features extend the table with `register_image` (for example a shim for an image that
ships one well-known binary).
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass

from dockyard.node.sandbox._spec import UnknownImageError


@dataclass(frozen=True)
class ImageRuntime:
    """How one image runs on this host.

    `entrypoint`/`cmd` follow Docker: a container with no command runs
    `entrypoint + (args or cmd)`. `bin_links` are (name, target) symlinks placed in a
    directory that comes first on the container's PATH. `ro_binds` are (host source,
    sandbox destination) pairs mounted read-only; sources that do not exist are skipped.
    """

    name: str
    description: str
    cmd: tuple[str, ...]
    entrypoint: tuple[str, ...] = ()
    bin_links: tuple[tuple[str, str], ...] = ()
    ro_binds: tuple[tuple[str, str], ...] = ()
    env: tuple[tuple[str, str], ...] = ()

    def argv(self, command: list[str], args: list[str]) -> list[str]:
        """The argv a container runs, with Kubernetes' command/args override rules."""
        if command:
            return [*command, *args]
        return [*self.entrypoint, *(args if args else self.cmd)]


# A table entry is either a ready runtime or a factory, so that host probing (is python3
# usable by uid 65534?) happens when an image is first used rather than at import.
RuntimeSource = ImageRuntime | Callable[[], ImageRuntime]

_lock = threading.Lock()
_table: dict[str, RuntimeSource] = {}
_resolved: dict[str, ImageRuntime] = {}


def register_image(prefix: str, runtime: RuntimeSource) -> None:
    """Map image references matching `prefix` to `runtime` (a runtime or a factory).

    `prefix` is a repository ("python": any tag or digest) or a repository with a tag
    ("argoproj/argosay:v2": that tag only). The longest matching prefix wins; registering an
    existing prefix replaces it. Docker Hub spellings (`docker.io/library/...`) are normalised.
    """
    key = _normalise(prefix)
    with _lock:
        _table[key] = runtime
        _resolved.pop(key, None)


def supported_images() -> list[str]:
    """The registered prefixes, sorted, for error messages and docs."""
    with _lock:
        return sorted(_table)


def resolve_image(image: str) -> ImageRuntime:
    """The runtime for `image`; raises UnknownImageError naming the supported images."""
    ref = _normalise(image)
    with _lock:
        matches = [key for key in _table if _matches(ref, key)]
        if not matches:
            raise UnknownImageError(
                image, "not supported on this node; supported: " + ", ".join(sorted(_table))
            )
        key = max(matches, key=len)
        if key in _resolved:
            return _resolved[key]
        source = _table[key]
    try:
        runtime = source() if callable(source) else source
    except UnknownImageError as exc:
        raise UnknownImageError(image, exc.reason) from None
    with _lock:
        _resolved[key] = runtime
    return runtime


def _normalise(ref: str) -> str:
    ref = ref.strip()
    for hub in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if ref.startswith(hub):
            ref = ref[len(hub) :]
            break
    if ref.startswith("library/"):
        ref = ref[len("library/") :]
    return ref


def _matches(ref: str, key: str) -> bool:
    if ref == key:
        return True
    if ":" in key.rsplit("/", 1)[-1]:
        # A tagged key matches only that tag, optionally pinned by digest.
        return ref.startswith(key + "@")
    return ref.startswith(key + ":") or ref.startswith(key + "@")


# --- built-in runtimes -------------------------------------------------------------------

SHELL_RUNTIME = ImageRuntime(
    name="shell",
    description="host shell userland (/bin/sh and coreutils); image tag ignored",
    cmd=("sh",),
)

_PYTHON_CANDIDATES = ("/usr/bin/python3", "/usr/local/bin/python3")


def usable_by_others(path: str) -> bool:
    """True when `path` (after symlinks) can be executed by an unrelated uid such as 65534:
    every directory on the way is world-searchable and the file is world-readable+executable.
    """
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o005 != 0o005:
        return False
    parent = os.path.dirname(real)
    while True:
        try:
            if os.stat(parent).st_mode & 0o001 == 0:
                return False
        except OSError:
            return False
        if parent == "/":
            return True
        parent = os.path.dirname(parent)


def _python_runtime() -> ImageRuntime:
    for candidate in _PYTHON_CANDIDATES:
        real = os.path.realpath(candidate)
        # Only interpreters under /usr are visible inside the sandbox.
        if real.startswith("/usr/") and usable_by_others(candidate):
            version = os.path.basename(real)  # e.g. "python3.11"
            return ImageRuntime(
                name="python",
                description=f"host {version} ({candidate}); image tag ignored",
                cmd=("python3",),
                bin_links=(("python", candidate), ("python3", candidate)),
                # Debian keeps sitecustomize under /etc/pythonX.Y.
                ro_binds=((f"/etc/{version}", f"/etc/{version}"),),
            )
    raise UnknownImageError("python", "no host python3 under /usr usable by uid 65534 on this node")


for _prefix in ("busybox", "alpine", "debian", "ubuntu"):
    register_image(_prefix, SHELL_RUNTIME)
register_image("python", _python_runtime)
