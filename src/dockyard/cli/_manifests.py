"""Reading manifests for ``apply``, ``create`` and ``delete -f``.

Files, directories (their ``*.yaml``, ``*.yml`` and ``*.json``) and ``-`` for stdin; each
may hold several YAML documents, and a ``kind: List`` is expanded into its items. Every
document is checked locally for the mistakes that need no server — not a mapping, no
``apiVersion``, no ``kind``, no name — and all problems are reported together, naming the
document and the field, before anything is sent. Malformed YAML is reported with its line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dockyard.cli._errors import CliError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True, slots=True)
class Manifest:
    """One object to send, and where it came from (for messages)."""

    source: str
    index: int
    obj: dict[str, Any]
    item: int | None = None

    @property
    def where(self) -> str:
        """``document 2 of pods.yaml`` (``, item 3`` inside a List)."""
        text = f"document {self.index} of {self.source}"
        return text if self.item is None else f"{text}, item {self.item}"


def _sources(paths: Sequence[str]) -> Iterable[tuple[str, str]]:
    for raw in paths:
        if raw == "-":
            yield "<stdin>", sys.stdin.read()
            continue
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in MANIFEST_SUFFIXES)
            if not files:
                raise CliError(f"{raw}: no {', '.join(MANIFEST_SUFFIXES)} files in directory")
        else:
            files = [path]
        for file in files:
            try:
                yield str(file), file.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise CliError(f"{file}: no such file") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise CliError(f"{file}: cannot read: {exc}") from None


def _parse(source: str, text: str) -> list[Any]:
    if source.endswith(".json"):
        try:
            return [json.loads(text)]
        except json.JSONDecodeError as exc:
            raise CliError(
                f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
    try:
        return list(yaml.safe_load_all(text))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "malformed YAML"
        raise CliError(f"{source}: invalid YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise CliError(f"{source}: invalid YAML: {exc}") from None


def problems(doc: Any, *, require_name: bool) -> list[str]:
    """What is locally wrong with one document, each as ``field: reason``; empty if nothing."""
    if not isinstance(doc, dict):
        return [f"expected a mapping with apiVersion, kind and metadata, got {_type(doc)}"]
    found = []
    for key in ("apiVersion", "kind"):
        value = doc.get(key)
        if value is None or value == "":
            found.append(f"{key}: required")
        elif not isinstance(value, str):
            found.append(f"{key}: must be a string, got {_type(value)}")
    metadata = doc.get("metadata")
    if metadata is None:
        found.append("metadata: required (with metadata.name)")
        return found
    if not isinstance(metadata, dict):
        return [*found, f"metadata: must be a mapping, got {_type(metadata)}"]
    for key in ("name", "generateName", "namespace"):
        if key in metadata and not isinstance(metadata[key], str):
            found.append(f"metadata.{key}: must be a string, got {_type(metadata[key])}")
    if not metadata.get("name") and (require_name or not metadata.get("generateName")):
        found.append(
            "metadata.name: required"
            if require_name
            else "metadata.name: required (or metadata.generateName)"
        )
    return found


def _type(value: Any) -> str:
    if value is None:
        return "null"
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
             int: "an integer", float: "a number"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


def load(
    paths: Sequence[str], *, require_name: bool = False, namespace: str | None = None
) -> list[Manifest]:
    """Every object in ``paths``, in order, all checked; :class:`CliError` lists every problem.

    ``namespace`` (an explicit ``-n``) must agree with each object's own namespace.
    """
    manifests: list[Manifest] = []
    errors: list[str] = []
    for source, text in _sources(paths):
        for index, doc in enumerate(_parse(source, text), start=1):
            if doc is None:
                continue
            if isinstance(doc, dict) and doc.get("kind") == "List" and "items" in doc:
                items = doc["items"] if isinstance(doc["items"], list) else [doc["items"]]
                found = [Manifest(source, index, item, n) for n, item in enumerate(items, 1)]
            else:
                found = [Manifest(source, index, doc)]
            for manifest in found:
                errs = problems(manifest.obj, require_name=require_name)
                own = manifest.obj.get("metadata", {}).get("namespace") if not errs else None
                if namespace and own and own != namespace:
                    errs.append(
                        f'metadata.namespace: "{own}" does not match --namespace "{namespace}"'
                    )
                errors += [f"{manifest.where}: {e}" for e in errs]
                if not errs:
                    manifests.append(manifest)
    if errors:
        raise CliError("\n".join(errors))
    if not manifests:
        raise CliError(f"no objects found in {', '.join(paths)}")
    return manifests
