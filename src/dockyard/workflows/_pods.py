"""Container and script templates as Dockyard Pods, and what a finished Pod produced.

Workflows layer. Each step Pod gets a host directory of its own (:class:`StepFiles`),
mounted into its sandbox:

* ``/argo`` — the script source (``/argo/staging/script``, as Argo places it) and the
  main container's stdout (``/argo/stdout``) and exit status, kept apart from stderr so
  ``outputs.result`` is stdout only, as Argo defines it.
* one directory per output-parameter directory (``/tmp`` for ``/tmp/hello_world.txt``),
  so each step sees its own private ``/tmp``; a file at the root (``/output``) is a file
  mount. After the Pod ends the engine reads the values back from the host side.

The main container runs ``/bin/sh -c WRAPPER argo <argv>``: the wrapper copies stdout to
``/argo/stdout`` (the log still sees everything) and exits with the program's status. The
argv is worked out with the node's image table, as the sandbox would, so images with an
entrypoint (``argoproj/argosay:v2``) behave as under Kubernetes.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.node.paths import pods_root
from dockyard.node.sandbox import UnknownImageError, resolve_image

MAIN = "main"
ARGO_DIR = "/argo"
SCRIPT_PATH = "/argo/staging/script"
SANDBOX_UID = 65534
# stdout is teed to /argo/stdout; stderr (fd 3) bypasses the pipe; the status survives it
# (read back with the `read` builtin: no process for it).
WRAPPER = (
    '{ "$@" 2>&3 3>&-; echo $? > /argo/.rc; } 3>&2 | tee /argo/stdout; '
    'rc=; read -r rc 2>/dev/null < /argo/.rc; exit "${rc:-1}"'
)
# Paths that belong to the sandbox's own userland; outputs there cannot be captured.
_UNMOUNTABLE = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/dev",
                "/etc", "/.dockyard", ARGO_DIR)  # fmt: skip
MAX_RESULT_BYTES = 256 * 1024


def files_root(data_dir: Path) -> Path:
    """Where step directories live: beside the Pod state dirs, equally traversable."""
    pods = pods_root(data_dir)
    if pods == Path(data_dir).resolve() / "pods":
        return pods.parent / "workflows"
    return pods.parent / f"{pods.name}-workflows"


@dataclass(frozen=True)
class OutputMount:
    """One mount that captures output files: a directory or a single file."""

    sandbox_path: str
    host_path: Path
    is_file: bool


class StepFiles:
    """The host directory of one step Pod."""

    def __init__(self, root: Path, workflow_uid: str, pod: str) -> None:
        self.workflow_dir = root / workflow_uid
        self.dir = self.workflow_dir / pod

    @property
    def argo(self) -> Path:
        return self.dir / "argo"

    def output_mounts(self, paths: list[str]) -> list[OutputMount]:
        """Mounts that make every output path writable and readable afterwards."""
        dirs: list[str] = []
        files: list[str] = []
        for path in paths:
            path = posixpath.normpath(path)
            if not path.startswith("/") or any(
                path == r or path.startswith(r + "/") for r in _UNMOUNTABLE
            ):
                continue
            parent = posixpath.dirname(path)
            if parent == "/":
                files.append(path)
            else:
                dirs.append(parent)
        top = sorted({d for d in dirs if not any(d.startswith(o + "/") for o in dirs)})
        mounts = [OutputMount(d, self.dir / "out" / str(i), False) for i, d in enumerate(top)]
        mounts += [
            OutputMount(f, self.dir / "out" / f"f{i}", True)
            for i, f in enumerate(sorted(set(files)))
            if not any(f.startswith(d + "/") for d in top)
        ]
        return mounts

    def host_path(self, mounts: list[OutputMount], path: str) -> Path | None:
        path = posixpath.normpath(path)
        for mount in mounts:
            if mount.is_file and path == mount.sandbox_path:
                return mount.host_path
            if not mount.is_file and path.startswith(mount.sandbox_path + "/"):
                return mount.host_path / path[len(mount.sandbox_path) + 1 :]
        return None

    def prepare(self, mounts: list[OutputMount], script: str | None) -> None:
        """Create the directory tree, owned so that the sandbox user may write it."""
        try:
            os.mkdir(self.dir, 0o755)
        except FileNotFoundError:  # the workflow's first step: create the parents too
            for directory in (self.workflow_dir.parent, self.workflow_dir):
                directory.mkdir(parents=True, exist_ok=True)
                os.chmod(directory, 0o755)
            self.dir.mkdir(0o755, exist_ok=True)
        except FileExistsError:
            pass
        if _UMASK & 0o755:  # the mode asked of mkdir was narrowed
            os.chmod(self.dir, 0o755)
        writable = [self.argo, *(m.host_path for m in mounts if not m.is_file)]
        if script is not None:
            staging = self.argo / "staging"
            writable.append(staging)
        for directory in writable:
            directory.mkdir(parents=True, exist_ok=True)
            _give_to_sandbox(directory, 0o755)
        if mounts:
            (self.dir / "out").mkdir(exist_ok=True)
            os.chmod(self.dir / "out", 0o755)
        for mount in mounts:
            if mount.is_file:
                mount.host_path.touch()
                _give_to_sandbox(mount.host_path, 0o644)
                os.utime(mount.host_path, (0, 0))  # mtime 0: "never written"
        if script is not None:
            target = self.argo / "staging" / "script"
            target.write_text(script)
            os.chmod(target, 0o755)

    def read_stdout(self) -> str | None:
        path = self.argo / "stdout"
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_RESULT_BYTES + 1)
        except OSError:
            return None
        text = data[:MAX_RESULT_BYTES].decode("utf-8", errors="replace")
        return text.removesuffix("\n")

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _give_to_sandbox(path: Path, mode: int) -> None:
    if os.geteuid() == 0:
        os.chown(path, SANDBOX_UID, SANDBOX_UID)
        os.chmod(path, mode)
    else:
        os.chmod(path, 0o777 if path.is_dir() else 0o666)


def read_output_file(host: Path | None) -> str | None:
    """The value of an output parameter file, or None when the step never wrote it."""
    if host is None:
        return None
    try:
        stat = host.stat()
        if host.is_file() and stat.st_mtime == 0:
            return None
        return host.read_text(errors="replace").removesuffix("\n")
    except (OSError, IsADirectoryError):
        return None


def container_argv(container: dict[str, Any], script: bool) -> list[str]:
    """The argv the container runs: command/args with the image's entrypoint rules."""
    command = list(container.get("command") or [])
    args = list(container.get("args") or [])
    if script:
        args = [*args, SCRIPT_PATH]
    try:
        runtime = resolve_image(str(container.get("image", "")))
    except UnknownImageError:
        return [*command, *args] or ["sh"]
    return runtime.argv(command, args)


_CONTAINER_KEYS = ("image", "env", "workingDir", "resources")


def _env(container: dict[str, Any]) -> list[dict[str, Any]]:
    env = []
    for var in container.get("env") or []:
        if "value" in var or not var.get("valueFrom"):
            env.append({"name": var["name"], "value": str(var.get("value", ""))})
        elif "fieldRef" in var["valueFrom"]:
            env.append(
                {"name": var["name"], "valueFrom": {"fieldRef": var["valueFrom"]["fieldRef"]}}
            )
    return env


@dataclass(frozen=True)
class PodRequest:
    """Everything needed to create one step's Pod."""

    name: str
    namespace: str
    workflow: dict[str, Any]
    node_name: str
    node_id: str
    template: dict[str, Any]
    deadline_seconds: int | None
    priority: int | None
    ray: dict[str, str] | None = None  # Ray settings (annotations) when Ray runs the step
    output_paths: tuple[str, ...] = ()


def build_pod(request: PodRequest, files: StepFiles, mounts: list[OutputMount]) -> dict[str, Any]:
    template = request.template
    script = template.get("script") is not None
    container: dict[str, Any] = dict(template.get("script") or template.get("container") or {})
    argv = container_argv(container, script)
    main: dict[str, Any] = {
        "name": MAIN,
        "image": container.get("image", "busybox"),
        "command": ["/bin/sh", "-c", WRAPPER, "argo", *argv],
        "env": [
            *_env(container),
            {"name": "ARGO_NODE_ID", "value": request.node_id},
            {"name": "ARGO_WORKFLOW_NAME", "value": request.workflow["metadata"]["name"]},
        ],
    }
    if container.get("workingDir"):
        main["workingDir"] = container["workingDir"]
    resources = container.get("resources")
    if isinstance(resources, dict) and resources:
        main["resources"] = {k: v for k, v in resources.items() if k in ("requests", "limits")}
    volumes: list[dict[str, Any]] = [
        {"name": "argo", "hostPath": {"path": str(files.argo)}},
    ]
    volume_mounts: list[dict[str, Any]] = [
        {"name": "argo", "mountPath": ARGO_DIR, "readOnly": False},
    ]
    for index, mount in enumerate(mounts):
        volumes.append({"name": f"out{index}", "hostPath": {"path": str(mount.host_path)}})
        volume_mounts.append(
            {"name": f"out{index}", "mountPath": mount.sandbox_path, "readOnly": False}
        )
    main["volumeMounts"] = volume_mounts
    workflow = request.workflow
    meta = workflow["metadata"]
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [main],
        "volumes": volumes,
    }
    if request.deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = max(1, int(request.deadline_seconds))
    if request.priority is not None:
        spec["priority"] = request.priority
    annotations = {
        "workflows.argoproj.io/node-name": request.node_name,
        "workflows.argoproj.io/node-id": request.node_id,
    }
    if request.ray is not None:
        spec["schedulerName"] = "ray"
        annotations.update(request.ray)
        annotations["workflows.dockyard.io/output-paths"] = json.dumps(list(request.output_paths))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": request.name,
            "namespace": request.namespace,
            "labels": {
                "workflows.argoproj.io/workflow": meta["name"],
                "workflows.argoproj.io/completed": "false",
            },
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": workflow["apiVersion"],
                    "kind": workflow["kind"],
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }


def main_exit_code(pod: dict[str, Any]) -> int | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == MAIN:
            terminated = (status.get("state") or {}).get("terminated")
            if terminated is not None and "exitCode" in terminated:
                return int(terminated["exitCode"])
    return None


def remove_workflow_files(root: Path, workflow_uid: str) -> None:
    with contextlib.suppress(OSError):
        shutil.rmtree(root / workflow_uid)
