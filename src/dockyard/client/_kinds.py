"""The kind table: what the server serves, and how a user's word maps onto it.

Filled from ``GET /api/kinds`` (discovery) and consulted before every request, so the SDK
never hard-codes a kind: Pods, Argo Workflows and any kind a later package registers are
addressed the same way. Resolution follows kubectl: a word matches a kind's name, plural,
singular or short name, case-insensitively, optionally qualified by group
(``workflows.argoproj.io``) or by version and group (``workflows.v1alpha1.argoproj.io``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class KindInfo:
    """One entry of the discovery document."""

    api_version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KindInfo:
        """Build from one ``kinds[]`` item; ``singular`` defaults to the lowercased kind."""
        kind = str(data["kind"])
        return cls(
            api_version=str(data["apiVersion"]),
            kind=kind,
            plural=str(data["plural"]),
            singular=str(data.get("singular") or kind.lower()),
            namespaced=bool(data.get("namespaced", True)),
            short_names=tuple(str(s) for s in data.get("shortNames") or ()),
        )

    @property
    def group(self) -> str:
        """API group; ``""`` for the core group (``apiVersion: v1``)."""
        group, _, _ = self.api_version.rpartition("/")
        return group

    @property
    def version(self) -> str:
        """API version within the group, e.g. ``v1`` or ``v1alpha1``."""
        return self.api_version.rpartition("/")[2]

    @property
    def resource(self) -> str:
        """Fully qualified plural: ``pods``, ``workflows.argoproj.io``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def display_name(self) -> str:
        """Name used in ``KIND/NAME`` references: ``pod``, ``workflow.argoproj.io``."""
        return f"{self.singular}.{self.group}" if self.group else self.singular

    def names(self) -> frozenset[str]:
        """Every lowercase word that names this kind without a group."""
        return frozenset(
            w.lower() for w in (self.kind, self.plural, self.singular, *self.short_names)
        )


class KindTable:
    """An immutable view of the discovery document with kubectl-style lookup."""

    def __init__(self, kinds: Iterable[KindInfo]) -> None:
        self._kinds = tuple(kinds)

    @classmethod
    def from_discovery(cls, document: Mapping[str, Any]) -> KindTable:
        """Build from the ``GET /api/kinds`` body."""
        return cls(KindInfo.from_dict(item) for item in document.get("kinds") or ())

    def __iter__(self) -> Iterator[KindInfo]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    def resolve(self, word: str) -> KindInfo | None:
        """Find the kind a user means by ``word``; ``None`` when nothing matches.

        An unqualified word that several groups define resolves to the core group's kind
        if there is one, else to the first in discovery order; qualify it to choose.
        """
        lowered = word.strip().lower()
        name, _, qualifier = lowered.partition(".")
        candidates = [k for k in self._kinds if name in k.names()]
        if qualifier:
            return next(
                (
                    k
                    for k in candidates
                    if qualifier in (k.group, f"{k.version}.{k.group}".rstrip("."))
                ),
                None,
            )
        core = [k for k in candidates if not k.group]
        ranked = core or candidates
        return ranked[0] if ranked else None

    def for_object(self, api_version: str, kind: str) -> KindInfo | None:
        """Find the entry that an object's ``apiVersion`` and ``kind`` name exactly."""
        return next(
            (k for k in self._kinds if k.api_version == api_version and k.kind == kind), None
        )
