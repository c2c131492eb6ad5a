"""One mapping between a shop's string ids and the 0..n-1 rows of a matrix; built sorted, so
the same ids in any row order give the same numbering."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd


class UnknownIdError(KeyError):
    """An id that the index was not built with."""


class IdIndex:
    """Bidirectional map external id (str) <-> internal index (int), like RecTools' IdMap."""

    def __init__(self, external_ids: Sequence[str]) -> None:
        ids = pd.Index(np.asarray(external_ids, dtype=object))
        if ids.has_duplicates:
            dup = ids[ids.duplicated()][0]
            raise ValueError(f"duplicate id {dup!r} in id index")
        self._index = ids
        self._lookup: dict[str, int] = {str(v): i for i, v in enumerate(ids)}

    @classmethod
    def from_values(cls, values: Iterable[str]) -> IdIndex:
        """Index of the distinct values, sorted so row order of the input does not matter."""
        if not isinstance(values, (list, tuple, np.ndarray, pd.Series, pd.Index)):
            values = list(values)  # a set or generator
        distinct = pd.unique(pd.Series(values, dtype=object).astype(str))  # hashed in C
        return cls(sorted(distinct))

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, external_id: object) -> bool:
        return external_id in self._lookup

    @property
    def external_ids(self) -> np.ndarray:
        """External ids in internal order (position i holds the id of index i)."""
        return self._index.to_numpy()

    def get(self, external_id: str) -> int | None:
        """Internal index of one id, or None when unknown (the caller picks a fallback)."""
        return self._lookup.get(external_id)

    def to_internal(
        self, external_ids: Sequence[str] | pd.Series, *, strict: bool = True
    ) -> np.ndarray:
        """Internal indices; unknown ids raise when strict, else map to -1."""
        idx = self._index.get_indexer(pd.Index(np.asarray(external_ids, dtype=object)))
        if strict and (idx < 0).any():
            missing = np.asarray(external_ids, dtype=object)[idx < 0][0]
            raise UnknownIdError(f"id {missing!r} is not in the index ({len(self)} ids)")
        return idx

    def to_list(self) -> list[str]:
        """Plain list for JSON (the saved form)."""
        return [str(v) for v in self._index]
