"""Terminal output for the CLI: consoles, tables, and machine-readable formats.

Tables go through rich (plain, unstyled text when stdout is not a terminal); JSON, YAML,
names and logs are written verbatim so they can be piped. Nothing here talks to the server.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, Final

import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

OUTPUT_FORMATS: Final = ("json", "yaml", "wide", "name")
_PIPE_WIDTH: Final = 10_000  # never wrap or truncate table rows written to a pipe


def stdout() -> Console:
    """A console on the current ``sys.stdout`` (looked up at call time, for test runners)."""
    return _console(sys.stdout.isatty(), stderr=False)


def stderr() -> Console:
    """A console on the current ``sys.stderr``."""
    return _console(sys.stderr.isatty(), stderr=True)


def _console(is_tty: bool, *, stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(
        file=stream,
        highlight=False,
        width=None if is_tty else _PIPE_WIDTH,
        soft_wrap=False,
    )


def write(text: str) -> None:
    """Write text to stdout as is, and flush (for logs and piped formats)."""
    sys.stdout.write(text)
    sys.stdout.flush()


def to_json(data: Any) -> str:
    """Indented JSON with a trailing newline."""
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def to_yaml(data: Any) -> str:
    """Block-style YAML keeping key order."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def as_list(items: Sequence[dict[str, Any]], resource_version: str | None = None) -> dict[str, Any]:
    """Wrap objects in a ``v1 List``, as ``get -o json|yaml`` prints several objects."""
    metadata: dict[str, Any] = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    return {"apiVersion": "v1", "kind": "List", "metadata": metadata, "items": list(items)}


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    """A borderless, kubectl-looking table; cells are literal text (no rich markup)."""
    result = Table(
        box=None,
        pad_edge=False,
        show_edge=False,
        padding=(0, 3, 0, 0),
        header_style="bold",
    )
    for header in headers:
        result.add_column(header, no_wrap=True, overflow="ignore")
    for row in rows:
        result.add_row(*(Text(cell) for cell in row))
    return result


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print :func:`table` on stdout without the blanks rich pads the last column with."""
    console = stdout()
    with console.capture() as captured:
        console.print(table(headers, rows))
    write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


class StreamingTable:
    """Rows printed one at a time (``get -w``) in columns sized by the first batch."""

    def __init__(
        self,
        headers: Sequence[str],
        first_rows: Sequence[Sequence[str]],
        min_widths: Sequence[int] = (),
    ) -> None:
        floors = [*min_widths, *([0] * len(headers))]
        self.widths = [
            max([len(h), floors[i], *(len(r[i]) for r in first_rows)])
            for i, h in enumerate(headers)
        ]
        self.headers = list(headers)

    def line(self, cells: Sequence[str]) -> str:
        """One row, columns separated by at least three spaces, no trailing blanks."""
        padded = [c.ljust(w) for c, w in zip(cells[:-1], self.widths, strict=False)]
        return "   ".join([*padded, cells[-1]]).rstrip()

    def header(self) -> str:
        """The header row."""
        return self.line(self.headers)
