"""``argoproj/argosay:v2``: Argo's test image, as a shell shim on the host userland.

Workflows layer. The real image's entrypoint is a small POSIX script; this one behaves the
same argument by argument (``echo [MSG [FILE]]``, ``cat``, ``assert_contains``, ``exit``,
``sleep``, ``sh``). It is registered as the image's entrypoint, so ``args`` work as they do
under Kubernetes, and needs no file on the host: the script is passed to ``sh -c``.
"""

from __future__ import annotations

from dockyard.node.sandbox import ImageRuntime, register_image

ARGOSAY_SCRIPT = r"""set -eu
if [ $# -eq 0 ]; then set -- echo; fi
cmd=$1; shift
case "$cmd" in
  echo)
    case $# in
      0) echo "hello argo" ;;
      1) echo "$1" ;;
      2) mkdir -p "$(dirname "$2")"; echo "$1" > "$2"; sleep 0.1 ;;
      *) exit 1 ;;
    esac ;;
  cat) cat "$1" ;;
  assert_contains) grep -F -q -- "$2" "$1" ;;
  exit) exit "${1:-0}" ;;
  sleep) sleep "$1" ;;
  sh) sh "$@" ;;
  *) exit 1 ;;
esac
"""

ARGOSAY = ImageRuntime(
    name="argosay",
    description="Argo's argosay:v2 test image (echo/cat/assert_contains/exit/sleep/sh)",
    cmd=(),
    entrypoint=("/bin/sh", "-c", ARGOSAY_SCRIPT, "argosay"),
)


def register_argosay() -> None:
    register_image("argoproj/argosay:v2", ARGOSAY)
