"""What a storefront may be shown, as item masks applied before the top-k cut: the `Catalogue`
(applied at ranking time, so hidden items still count as history) and one request's `Rules`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.models.id_index import IdIndex


@dataclass(frozen=True)
class Catalogue:
    """Per model item: may it be shown at all, and its price (nan = unknown)."""

    shown: np.ndarray  # bool
    price: np.ndarray  # float64

    @classmethod
    def of(cls, items: IdIndex, table: pd.DataFrame | None) -> Catalogue:
        """From an items table (item_id, optional available / recommendable / price); an item
        the table does not name, or a blank flag, counts as shown (absent = true)."""
        shown = np.ones(len(items), dtype=bool)
        price = np.full(len(items), np.nan)
        if table is None or table.empty:
            return cls(shown, price)
        idx = items.to_internal(table[C.ITEM_ID].astype(str).tolist(), strict=False)
        known = idx >= 0
        for flag in (C.AVAILABLE, C.RECOMMENDABLE):
            if flag in table.columns:
                values = table[flag].astype("boolean").fillna(True).to_numpy(dtype=bool)
                shown[idx[known & ~values]] = False
        if C.PRICE in table.columns:
            price[idx[known]] = pd.to_numeric(table[C.PRICE], errors="coerce").to_numpy()[known]
        return cls(shown, price)


@dataclass(frozen=True)
class Rules:
    """One request's filters and slot rules (see the `/recommendations` body)."""

    categories: Sequence[str] | None = None
    exclude_categories: Sequence[str] = ()
    exclude_item_ids: Sequence[str] = ()
    min_price: float | None = None
    max_price: float | None = None
    exclude_bought_within_days: float | None = None
    promoted_item_ids: Sequence[str] = ()
    promoted_share: float = 0.0
    max_per_category: int | None = None

    def promoted_slots(self, k: int) -> int:
        """How many of the k slots promoted items take (when that many pass the filters)."""
        if not self.promoted_item_ids or self.promoted_share <= 0:
            return 0
        return min(k, max(1, round(self.promoted_share * k)))


def allowed_items(
    rules: Rules | None,
    catalogue: Catalogue | None,
    items: IdIndex,
    item_category: np.ndarray,
    category_code: dict[str, int],
) -> np.ndarray | None:
    """Bool per item: passes the catalogue and the item-level filters (None: every item); an
    item without a price fails a price bound (it cannot be shown to be in the range)."""
    mask = None if catalogue is None else catalogue.shown.copy()
    if rules is None:
        return mask
    mask = np.ones(len(items), dtype=bool) if mask is None else mask
    if rules.categories is not None:
        codes = [category_code[c] for c in rules.categories if c in category_code]
        mask &= np.isin(item_category, codes)
    if rules.exclude_categories:
        codes = [category_code[c] for c in rules.exclude_categories if c in category_code]
        mask &= ~np.isin(item_category, codes)
    if rules.exclude_item_ids:
        idx = items.to_internal(list(rules.exclude_item_ids), strict=False)
        mask[idx[idx >= 0]] = False
    if rules.min_price is not None or rules.max_price is not None:
        price = catalogue.price if catalogue is not None else np.full(len(items), np.nan)
        with np.errstate(invalid="ignore"):
            if rules.min_price is not None:
                mask &= price >= rules.min_price
            if rules.max_price is not None:
                mask &= price <= rules.max_price
    return mask


def category_cap(
    user: np.ndarray, scores: np.ndarray, category: np.ndarray, cap: int | None
) -> np.ndarray:
    """Bool per pair: among its customer's candidates, best first, at most `cap` of its
    category come before it (items without a category are not capped)."""
    if cap is None or user.size == 0:
        return np.ones(user.size, dtype=bool)
    order = np.lexsort((-np.nan_to_num(scores, nan=-np.inf), user))
    key = user[order].astype(np.int64) * (int(category.max()) + 2) + (category[order] + 1)
    sorted_key = np.lexsort((np.arange(key.size), key))  # stable: best first within a key
    grouped = key[sorted_key]
    seen = np.empty(key.size, dtype=np.int64)
    seen[sorted_key] = np.arange(grouped.size) - np.searchsorted(grouped, grouped)
    keep = np.empty(user.size, dtype=bool)
    keep[order] = (seen < cap) | (category[order] < 0)
    return keep
