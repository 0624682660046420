"""``dockyard get``: list or show objects as a table, JSON, YAML or names, and follow changes.

With ``-w`` the current objects are printed, then one line (or one document) per change as
the server reports it; the watch resumes after a server-side timeout and relists after a
410. ``Ctrl-C`` ends it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from dockyard.cli import _columns, _options, _output
from dockyard.cli._context import state_of
from dockyard.cli._errors import CliError, report
from dockyard.cli._refs import split_ref
from dockyard.client import ApiError, Client, GoneError, KindInfo, WatchEvent

Object = dict[str, Any]
_IDLE_BACKOFF = (0.05, 2.0)  # seconds: first and longest pause between empty watch streams


def _targets(kind: str, names: Sequence[str]) -> tuple[str, list[str]]:
    """``get pod a b`` and ``get pod/a pod/b`` both mean kind ``pod``, names ``[a, b]``."""
    if "/" not in kind:
        return kind, list(names)
    refs = [split_ref(r) for r in (kind, *names)]
    if len({k.lower() for k, _ in refs}) != 1:
        raise CliError("all KIND/NAME arguments of one get must name the same kind")
    return refs[0][0], [n for _, n in refs]


class _Printer:
    """Prints objects of one kind in the chosen format, as a batch or one by one."""

    def __init__(
        self, info: KindInfo, output: str | None, columns: list[_columns.Column], events: bool
    ) -> None:
        self.info = info
        self.output = output
        self.columns = columns
        self.events = events
        self.stream: _output.StreamingTable | None = None

    def batch(self, objects: list[Object], single: bool, resource_version: str | None) -> None:
        """Print the result of a get or list."""
        if self.output in ("json", "yaml"):
            data = objects[0] if single else _output.as_list(objects, resource_version)
            dump = _output.to_json if self.output == "json" else _output.to_yaml
            _output.write(dump(data))
        elif self.output == "name":
            _output.write("".join(self._name(o) for o in objects))
        elif objects:
            now = _columns.utcnow()
            rows = [_columns.row(self.columns, o, now) for o in objects]
            _output.print_table([c.header for c in self.columns], rows)

    def start_stream(self, objects: list[Object]) -> None:
        """Print the current objects as the first lines of a watch."""
        if self.output in ("json", "yaml", "name"):
            for obj in objects:
                self.event(WatchEvent("ADDED", obj))
            return
        now = _columns.utcnow()
        rows = [self._cells("ADDED", o, now) for o in objects]
        # Size the EVENT column for its longest value up front, so later rows line up.
        floors = [len("MODIFIED")] if self.events else []
        self.stream = _output.StreamingTable(self._headers(), rows, floors)
        _output.write("".join(self.stream.line(r) + "\n" for r in [self._headers(), *rows]))

    def event(self, event: WatchEvent) -> None:
        """Print one change."""
        obj = event.object
        if self.output == "json":
            _output.write(_output.to_json(obj))
        elif self.output == "yaml":
            _output.write("---\n" + _output.to_yaml(obj))
        elif self.output == "name":
            _output.write(self._name(obj))
        elif self.stream is not None:
            cells = self._cells(event.type, obj, _columns.utcnow())
            _output.write(self.stream.line(cells) + "\n")

    def _headers(self) -> list[str]:
        headers = [c.header for c in self.columns]
        return ["EVENT", *headers] if self.events else headers

    def _cells(self, kind: str, obj: Object, now: Any) -> list[str]:
        cells = _columns.row(self.columns, obj, now)
        return [kind, *cells] if self.events else cells

    def _name(self, obj: Object) -> str:
        return f"{self.info.display_name}/{(obj.get('metadata') or {}).get('name', '')}\n"


def _follow(
    client: Client,
    info: KindInfo,
    namespace: str | None,
    selector: str | None,
    name: str | None,
    resource_version: str | None,
    printer: _Printer,
) -> None:
    rv = resource_version
    idle = _IDLE_BACKOFF[0]
    while True:
        seen = 0
        try:
            for event in client.watch(
                info, namespace, resource_version=rv, label_selector=selector, name=name
            ):
                seen += 1
                rv = event.resource_version or rv
                if event.type != "BOOKMARK":
                    printer.event(event)
            # The server ended the stream (its own timeout): resume from where it stopped,
            # backing off if it keeps ending streams with nothing in them.
            idle = _IDLE_BACKOFF[0] if seen else min(idle * 2, _IDLE_BACKOFF[1])
            time.sleep(0 if seen else idle)
        except GoneError:
            field = f"metadata.name={name}" if name else None
            listing = client.list(info, namespace, selector, field_selector=field)
            rv = listing["metadata"].get("resourceVersion")


def get(
    ctx: typer.Context,
    kind: Annotated[
        str, typer.Argument(help="Kind (pods, po, workflows.argoproj.io) or KIND/NAME.")
    ],
    names: Annotated[list[str] | None, typer.Argument(help="Names to show (default: all).")] = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="json, yaml, wide or name.")
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="After listing, print changes as they happen.")
    ] = False,
    watch_events: Annotated[
        bool, typer.Option("--output-watch-events", help="With -w, show the event type.")
    ] = False,
    selector: _options.Selector = None,
    all_namespaces: _options.AllNamespaces = False,
    namespace: _options.Namespace = None,
) -> None:
    """Show objects of one kind: a table by default, or JSON, YAML or names."""
    if output is not None and output not in _output.OUTPUT_FORMATS:
        formats = ", ".join(_output.OUTPUT_FORMATS)
        raise CliError(f'unknown output format "{output}": use {formats}')
    state = state_of(ctx)
    kind_word, wanted = _targets(kind, names or [])
    if wanted and all_namespaces:
        raise CliError("an object is fetched by name within one namespace: drop -A or the names")
    if watch and len(wanted) > 1:
        raise CliError("watch one object or a whole kind, not several names")
    client = state.client()
    info = client.resolve_kind(kind_word)
    ns = None if all_namespaces and info.namespaced else state.namespace_for(namespace)

    failed = False
    if wanted:
        objects: list[Object] = []
        for name in wanted:
            try:
                objects.append(client.get(info, name, ns))
            except ApiError as exc:
                failed = True
                report(exc, _output.stderr())
        rv = (objects[0].get("metadata") or {}).get("resourceVersion") if objects else None
    else:
        listing = client.list(info, ns, selector)
        objects, rv = listing["items"], listing["metadata"].get("resourceVersion")
        if not objects and output in (None, "wide") and not watch:
            where = f" in {ns} namespace" if info.namespaced and ns else ""
            _output.stderr().print(f"No resources found{where}.", markup=False)

    columns = _columns.columns_for(
        info, objects, wide=output == "wide", all_namespaces=ns is None and info.namespaced
    )
    printer = _Printer(info, output, columns, watch and watch_events)
    if failed:
        printer.batch(objects, single=len(objects) == 1, resource_version=None)
        raise typer.Exit(1)
    if not watch:
        printer.batch(objects, single=len(wanted) == 1, resource_version=rv)
        return
    printer.start_stream(objects)
    _follow(client, info, ns, selector, wanted[0] if wanted else None, rv, printer)
