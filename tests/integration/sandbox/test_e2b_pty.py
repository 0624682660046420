"""Terminals through the unmodified E2B SDK: `sandbox.pty` starts an interactive shell on
a PTY of the asked size, takes typed input, resizes, and ends with the shell."""

from __future__ import annotations

import pytest
from e2b import CommandExitException, PtySize, Sandbox

pytestmark = pytest.mark.usefixtures("e2b_env")


def test_an_interactive_shell_on_a_pty() -> None:
    sbx = Sandbox.create(timeout=120)
    try:
        terminal = sbx.pty.create(PtySize(rows=24, cols=80), timeout=60)
        sbx.pty.send_stdin(terminal.pid, b"stty size\n")
        seen = b""
        events = iter(terminal)
        while b"24 80" not in seen:  # the shell answered with the size it was given
            _, _, chunk = next(events)
            seen += chunk or b""

        sbx.pty.resize(terminal.pid, PtySize(rows=40, cols=120))
        sbx.pty.send_stdin(terminal.pid, b"stty size; tty; echo $((6 * 7)); exit\n")
        output: list[bytes] = []
        result = terminal.wait(on_pty=output.append)
        text = b"".join(output).decode(errors="replace")

        assert result.exit_code == 0
        assert "40 120" in text, text
        assert "/dev/pts/" in text, text  # the shell's input is a terminal
        assert "42" in text, text
    finally:
        sbx.kill()


def test_a_pty_shell_ends_when_killed() -> None:
    sbx = Sandbox.create(timeout=120)
    try:
        terminal = sbx.pty.create(PtySize(rows=24, cols=80), timeout=60)
        assert terminal.pid in [p.pid for p in sbx.commands.list()]
        assert sbx.pty.kill(terminal.pid)
        with pytest.raises(CommandExitException) as ended:
            terminal.wait()
        assert ended.value.exit_code == -9  # SIGKILL
        assert terminal.pid not in [p.pid for p in sbx.commands.list()]
    finally:
        sbx.kill()
