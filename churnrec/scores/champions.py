"""Load the champions a scoring needs, once: whichever exist are used, and a missing one is a
reason (in `/readyz`, the export's summary or the report), never an exception."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from churnrec.models.base import ModelKind, RetiredModelError
from churnrec.store.registry import LoadedModel, ModelNotFoundError, load_champion
from churnrec.workspace import Workspace

# The kinds that put a column into the scores table, in the order they are scored.
SCORING_KINDS = (ModelKind.CHURN, ModelKind.REPURCHASE, ModelKind.CLV, ModelKind.UPLIFT)


@dataclass(frozen=True)
class Champions:
    """The loaded champions by kind, and why each requested kind is missing."""

    loaded: dict[str, LoadedModel] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    def model(self, kind: str) -> Any | None:
        """The churnrec model object of `kind`, or None when there is no champion."""
        found = self.loaded.get(kind)
        return found.model if found is not None else None

    def versions(self) -> dict[str, str]:
        return {kind: found.version for kind, found in self.loaded.items()}

    def __contains__(self, kind: object) -> bool:
        return kind in self.loaded


def load_champions(ws: Workspace, kinds: Iterable[str] = SCORING_KINDS) -> Champions:
    """Every champion of `kinds` there is; the others recorded with the registry's reason."""
    loaded: dict[str, LoadedModel] = {}
    missing: dict[str, str] = {}
    for kind in kinds:
        try:
            loaded[str(kind)] = load_champion(ws, str(kind))
        except (ModelNotFoundError, RetiredModelError) as exc:  # a retired class: retrain it
            missing[str(kind)] = str(exc)
    return Champions(loaded, missing)
