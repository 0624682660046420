"""Where a Pod's files live: on the host under state_dir, and inside its sandbox.

Node layer. Every file of one Pod sits under the `state_dir` the node agent chose; this module
names those paths in one place and creates the tree with the right owners (directories the
sandbox writes belong to uid 65534, everything it must not touch stays root-owned).

    state_dir/
      sandbox.json      what adopt() needs: supervisor pid, start time, cgroup (root, 0644)
      supervisor.sh     the generated supervisor, mounted read-only in the sandbox
      sandbox.log       stderr of the launcher and bubblewrap (setup errors)
      status/           container and pod records, bwrap.json (owned by 65534)
      logs/<name>.log   container stdout+stderr, appended across restarts (owned by 65534)
      work/             the default working directory /work (owned by 65534)
      volumes/<name>/   emptyDir volumes (owned by 65534)
      dirs/<n>/         extra working directories outside every mount (owned by 65534)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dockyard.node.sandbox._spec import SANDBOX_GID, SANDBOX_UID, SandboxError

# Paths inside the sandbox. Dot-named so they stay out of the way of `ls /`.
SANDBOX_DIR = "/.dockyard"
SANDBOX_SUPERVISOR = f"{SANDBOX_DIR}/supervisor.sh"
SANDBOX_STATUS = f"{SANDBOX_DIR}/status"
SANDBOX_LOGS = f"{SANDBOX_DIR}/logs"
SANDBOX_OOM_FILE = f"{SANDBOX_DIR}/oom_events"
SANDBOX_IMAGES = f"{SANDBOX_DIR}/images"


@dataclass(frozen=True)
class StateLayout:
    """Host paths of one Pod's state directory."""

    root: Path

    @property
    def meta(self) -> Path:
        return self.root / "sandbox.json"

    @property
    def supervisor(self) -> Path:
        return self.root / "supervisor.sh"

    @property
    def sandbox_log(self) -> Path:
        return self.root / "sandbox.log"

    @property
    def status(self) -> Path:
        return self.root / "status"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def bwrap_json(self) -> Path:
        return self.status / "bwrap.json"

    @property
    def pod_record(self) -> Path:
        return self.status / "pod"

    def container_record(self, name: str) -> Path:
        return self.status / f"c-{name}"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def volume(self, name: str) -> Path:
        return self.root / "volumes" / name

    def extra_dir(self, index: int) -> Path:
        return self.root / "dirs" / str(index)

    def create(self, volumes: list[str], extra_dirs: int) -> None:
        """Create the tree; raises SandboxError if uid 65534 could not reach it."""
        check_traversable(self.root.parent)
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        sandbox_owned = [self.status, self.logs, self.work]
        sandbox_owned += [self.volume(v) for v in volumes]
        sandbox_owned += [self.extra_dir(i) for i in range(extra_dirs)]
        # Parents only where something goes in them: each directory costs a journal
        # transaction on the host filesystem.
        for path, used in ((self.root / "volumes", volumes), (self.root / "dirs", extra_dirs)):
            if used:
                path.mkdir(exist_ok=True)
                os.chmod(path, 0o755)
        for path in sandbox_owned:
            path.mkdir(exist_ok=True)
            os.chmod(path, 0o755)
            if os.geteuid() == 0:
                os.chown(path, SANDBOX_UID, SANDBOX_GID)


def check_traversable(path: Path) -> None:
    """Raise SandboxError unless every directory from / to `path` is searchable by others
    (bubblewrap runs as uid 65534 and must reach the Pod's directories to mount them)."""
    current = path.resolve()
    for directory in (current, *current.parents):
        try:
            mode = directory.stat().st_mode
        except FileNotFoundError:
            continue  # created later with mode 0755
        if mode & 0o001 == 0:
            raise SandboxError(
                f"{directory} is not searchable by uid {SANDBOX_UID}; state directories must "
                "live under world-searchable (o+x) directories"
            )
