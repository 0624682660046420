"""Network namespaces of ended sandboxes are reused only when nothing of the old sandbox
is left in them: the next sandbox sees a fresh network (no sockets, loopback up, the old
ports free), and a namespace still holding a TIME_WAIT entry, or whose traffic counters
moved, is never handed on."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

from tests.integration.sandbox.conftest import run_in_fresh_root, running_service

from dockyard.sandbox._service import Record

LISTEN = (
    "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', 8123)); s.listen(); "
    "open('/tmp/listening', 'w').close(); time.sleep(600)"
)
# The client side closes first, so its end of the connection stays in TIME_WAIT.
TIME_WAIT = (
    "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
    "c = socket.create_connection(s.getsockname()); a, _ = s.accept(); "
    "c.close(); a.close(); s.close()"
)
# Traffic that leaves no socket behind: only the namespace's counters remember it.
DATAGRAM = (
    "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
    "s.bind(('127.0.0.1', 0)); s.sendto(b'x', s.getsockname()); s.recv(1); s.close()"
)
PROBE = (
    "import socket\n"
    "try:\n"
    "    socket.create_connection(('127.0.0.1', 8123), 2); print('old port open')\n"
    "except ConnectionRefusedError:\n"
    "    print('old port refused')\n"
    "s = socket.socket(); s.bind(('127.0.0.1', 8123)); s.listen()\n"
    "socket.create_connection(('127.0.0.1', 8123), 2); print('loopback works')\n"
)


async def _sh(record: Record, script: str) -> tuple[int, str]:
    output = b""
    code = -1
    async for message in record.client.stream("exec", cmd="/bin/sh", args=["-c", script]):
        for stream in ("stdout", "stderr"):
            if stream in message:
                output += base64.b64decode(message[stream])
        if "end" in message:
            code = int(message["end"]["exit_code"])
    return code, output.decode()


async def _network_of(record: Record) -> str:
    code, output = await _sh(record, "readlink /proc/self/ns/net")
    assert code == 0, output
    return output.strip()


def _sockets_in(output: str) -> list[str]:
    """The socket lines of /proc/net/tcp (after its header)."""
    return [line for line in output.splitlines()[1:] if line.strip()]


async def _scenario(root: Path) -> None:
    async with running_service(root) as service:
        first = await service.create("acme", "base")
        code, output = await _sh(
            first,
            f'python3 -c "{LISTEN}" >/dev/null 2>&1 & '
            "while [ ! -e /tmp/listening ]; do sleep 0.01; done; cat /proc/net/tcp",
        )
        assert code == 0 and _sockets_in(output), output
        first_network = await _network_of(first)
        await service.kill("acme", first.sandbox_id)
        # The kernel frees a closed listening socket after an RCU grace period; until then
        # the namespace is not clean (the zygote looks again before later forks).
        await asyncio.sleep(0.5)

        second = await service.create("acme", "base")
        assert await _network_of(second) == first_network, "a clean namespace is reused"
        code, output = await _sh(second, "cat /proc/net/tcp")
        assert code == 0 and not _sockets_in(output), output
        code, output = await _sh(second, f'python3 -c "{PROBE}"')
        assert code == 0 and "old port refused" in output and "loopback works" in output, output

        code, output = await _sh(second, f'python3 -c "{TIME_WAIT}"; cat /proc/net/tcp')
        assert code == 0 and any(line.split()[3] == "06" for line in _sockets_in(output)), (
            f"no TIME_WAIT entry: {output}"
        )
        await service.kill("acme", second.sandbox_id)
        await asyncio.sleep(0.5)  # as above: only TIME_WAIT is left by now

        third = await service.create("acme", "base")
        assert await _network_of(third) != first_network, "a namespace with TIME_WAIT is not"
        code, output = await _sh(third, "cat /proc/net/tcp")
        assert code == 0 and not _sockets_in(output), output

        code, output = await _sh(third, f'python3 -c "{DATAGRAM}"; cat /proc/net/sockstat')
        assert code == 0 and "sockets: used 1\n" in output, output  # the daemon's own
        third_network = await _network_of(third)
        await service.kill("acme", third.sandbox_id)
        await asyncio.sleep(0.5)
        fourth = await service.create("acme", "base")
        assert await _network_of(fourth) != third_network, "one whose counters moved is not"
        code, output = await _sh(fourth, "grep lo: /proc/net/dev")
        assert code == 0 and output.split()[1:3] == ["0", "0"], output  # no bytes, no packets


def test_network_namespaces_are_reused_only_when_clean() -> None:
    run_in_fresh_root(_scenario)
