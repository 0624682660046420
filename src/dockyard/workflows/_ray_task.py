"""What a workflow step runs inside a Ray worker.

Workflows layer, standard library only: the module is shipped to the cluster by value (a
Ray node needs Python, not Dockyard). :func:`run_step` runs the step's argv with the
layout a Dockyard Pod gives it — ``/argo`` (script, stdout) and a private directory or
file for every output-parameter path — using bubblewrap when the Ray node has it, and
returns what the engine reads back: exit code, stdout, stderr and the output files.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

ARGO_DIR = "/argo"
SCRIPT_PATH = "/argo/staging/script"
MAX_FILE_BYTES = 1024 * 1024


def run_step(step: dict[str, Any]) -> dict[str, Any]:
    """``step``: argv, env, workingDir, script (source or None), outputs (list of
    ``{"path": sandbox path, "file": bool}``), paths (the output-parameter files),
    timeout (seconds or None)."""
    node_id = ""
    try:
        import ray

        node_id = ray.get_runtime_context().get_node_id()
    except Exception:  # outside Ray (tests of this function)
        node_id = ""
    with tempfile.TemporaryDirectory(prefix="dockyard-step-") as work:
        root = Path(work)
        argo = root / "argo"
        (argo / "staging").mkdir(parents=True)
        argv = [str(a) for a in step["argv"]]
        if step.get("script") is not None:
            (argo / "staging" / "script").write_text(step["script"])
            os.chmod(argo / "staging" / "script", 0o755)
        outputs: list[tuple[str, Path, bool]] = []
        for index, out in enumerate(step.get("outputs") or []):
            host = root / "out" / str(index)
            if out["file"]:
                host.parent.mkdir(parents=True, exist_ok=True)
                host.touch()
                os.utime(host, (0, 0))
            else:
                host.mkdir(parents=True, exist_ok=True)
            outputs.append((out["path"], host, bool(out["file"])))
        env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "HOME": "/tmp"}
        env.update({str(k): str(v) for k, v in (step.get("env") or {}).items()})
        bwrap = shutil.which("bwrap")
        if bwrap is not None:
            command = [bwrap, "--dev-bind", "/", "/", "--bind", str(argo), ARGO_DIR]
            for sandbox_path, host, _ in outputs:
                command += ["--bind", str(host), sandbox_path]
            if step.get("workingDir"):
                command += ["--chdir", str(step["workingDir"])]
            command += ["--die-with-parent", "--", *argv]
            cwd = None
        else:  # no bubblewrap on this node: the script moves, outputs are read in place
            command = [str(argo / "staging" / "script") if a == SCRIPT_PATH else a for a in argv]
            cwd = step.get("workingDir") or None
        timed_out = False
        try:
            proc = subprocess.run(
                command,
                env=env,
                cwd=cwd,
                capture_output=True,
                timeout=step.get("timeout"),
                check=False,
            )
            code, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as exc:
            timed_out = True
            code = -1
            stdout = exc.stdout or b""
            stderr = exc.stderr or b""
        except OSError as exc:
            code, stdout, stderr = 127, b"", str(exc).encode()
        files: dict[str, str | None] = {}
        if bwrap is None:
            files = {p: _read(Path(p)) for p in step.get("paths") or [] if Path(p).is_file()}
            outputs = []
        for sandbox_path, host, is_file in outputs:
            if is_file:
                files[sandbox_path] = _read(host) if host.stat().st_mtime != 0 else None
                continue
            for current, _, names in os.walk(host):
                for name in names:
                    path = Path(current) / name
                    relative = path.relative_to(host).as_posix()
                    files[f"{sandbox_path.rstrip('/')}/{relative}"] = _read(path)
        return {
            "exitCode": code,
            "timedOut": timed_out,
            "stdout": stdout.decode("utf-8", errors="replace"),
            "stderr": stderr.decode("utf-8", errors="replace"),
            "files": files,
            "node": node_id,
            "host": socket.gethostname(),
        }


def _read(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_FILE_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None
