"""``dockyard apply -f`` and ``dockyard create -f``: send manifests to the server.

Every document is read and checked before the first request. Then each is applied (or
created) in order; a document the server rejects is reported and the rest still go, and
the command exits 1 if any failed. A broken connection stops at once.
"""

from __future__ import annotations

import typer

from dockyard.cli import _manifests, _options, _output
from dockyard.cli._context import state_of
from dockyard.cli._errors import report
from dockyard.cli._refs import object_ref
from dockyard.client import ApiError


def _send(ctx: typer.Context, filenames: list[str], namespace: str | None, create: bool) -> None:
    state = state_of(ctx)
    explicit = state.explicit_namespace(namespace)
    manifests = _manifests.load(filenames, namespace=explicit)
    client = state.client()
    out, err = _output.stdout(), _output.stderr()
    failed = False
    for manifest in manifests:
        try:
            if create:
                obj, action = client.create(manifest.obj, explicit), "created"
            else:
                obj, action = client.apply(manifest.obj, explicit)
        except ApiError as exc:
            failed = True
            err.print(f"{manifest.where}:", markup=False, highlight=False)
            report(exc, err)
            continue
        out.print(f"{object_ref(obj)} {action}", markup=False, highlight=False)
    if failed:
        raise typer.Exit(1)


def apply(
    ctx: typer.Context,
    filename: _options.Filenames,
    namespace: _options.Namespace = None,
) -> None:
    """Create or update objects from manifests (multi-document YAML or JSON)."""
    _send(ctx, filename, namespace, create=False)


def create(
    ctx: typer.Context,
    filename: _options.Filenames,
    namespace: _options.Namespace = None,
) -> None:
    """Create objects from manifests; an existing object is an error."""
    _send(ctx, filename, namespace, create=True)
