"""``dockyard delete``: by ``KIND NAME...``, ``KIND/NAME...``, ``-l``/``--all``, or ``-f``.

Each deletion prints ``pod "NAME" deleted`` (the object may still be finalizing); a
failure is reported and the rest still go, and the command exits 1 if any failed.
"""

from __future__ import annotations

from typing import Annotated

import typer

from dockyard.cli import _manifests, _options, _output
from dockyard.cli._context import state_of
from dockyard.cli._errors import CliError, report
from dockyard.cli._refs import parse_targets
from dockyard.client import ApiError, KindInfo, NotFoundError


def delete(
    ctx: typer.Context,
    target: Annotated[
        list[str] | None, typer.Argument(help="KIND NAME..., KIND/NAME..., or KIND with -l/--all")
    ] = None,
    filename: Annotated[
        list[str] | None,
        typer.Option("--filename", "-f", help="Delete the objects in these manifests."),
    ] = None,
    selector: _options.Selector = None,
    all_: Annotated[bool, typer.Option("--all", help="Every object of the kind.")] = False,
    ignore_not_found: Annotated[
        bool, typer.Option("--ignore-not-found", help="An absent object is not an error.")
    ] = False,
    namespace: _options.Namespace = None,
) -> None:
    """Delete objects."""
    state = state_of(ctx)
    explicit = state.explicit_namespace(namespace)
    ns = state.namespace_for(namespace)
    args = target or []
    if filename and args:
        raise CliError("give either KIND/NAME arguments or -f, not both")
    if not filename and not args:
        raise CliError("nothing to delete: give KIND NAME, KIND/NAME or -f FILE")
    client = state.client()

    jobs: list[tuple[KindInfo | str, str, str]] = []
    if filename:
        for m in _manifests.load(filename, require_name=True, namespace=explicit):
            meta = m.obj["metadata"]
            info = client.resolve_kind(_kind_of(m.obj))
            jobs.append((info, meta["name"], meta.get("namespace") or ns))
    elif len(args) == 1 and "/" not in args[0]:
        if not (selector or all_):
            raise CliError(f"name the {args[0]} to delete, or use -l SELECTOR or --all")
        info = client.resolve_kind(args[0])
        for item in client.list(info, ns, selector)["items"]:
            jobs.append((info, item["metadata"]["name"], item["metadata"].get("namespace") or ns))
        if not jobs:
            _output.stderr().print("No resources found.", markup=False)
    else:
        if selector or all_:
            raise CliError("-l/--all select by kind: give only KIND")
        jobs = [(kind, name, ns) for kind, name in parse_targets(args)]

    out, err = _output.stdout(), _output.stderr()
    failed = False
    for kind, name, object_ns in jobs:
        info = kind if isinstance(kind, KindInfo) else client.resolve_kind(kind)
        try:
            client.delete(info, name, object_ns)
        except NotFoundError as exc:
            if not ignore_not_found:
                failed = True
                report(exc, err)
            continue
        except ApiError as exc:
            failed = True
            report(exc, err)
            continue
        out.print(f'{info.display_name} "{name}" deleted', markup=False, highlight=False)
    if failed:
        raise typer.Exit(1)


def _kind_of(obj: dict[str, object]) -> str:
    """``kind`` qualified by group (``Workflow.argoproj.io``) so resolution is unambiguous."""
    group = str(obj["apiVersion"]).rpartition("/")[0]
    return f"{obj['kind']}.{group}" if group else str(obj["kind"])
