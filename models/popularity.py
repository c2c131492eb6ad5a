"""Popularity lists (global and per category) and the two baselines that need no training.

Popularity of an item = share of customers who bought it (ties: more total weight first,
then item id). The lists are precomputed once so a fallback answer costs O(k + bought).
`PopularityRecommender` and `BuyAgainRecommender` answer `recommend_batch` (lists per customer),
so the training job can compare all three on the same holdout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.models.id_index import IdIndex
from churnrec.models.ranking.history import BuyAgainOrder, PurchaseHistory
from churnrec.models.ranking.interactions import validate_interactions

POPULARITY = "popularity"
RANK = "rank"


@dataclass(frozen=True)
class PopularityLists:
    items: IdIndex  # the model's items (those bought at least once)
    score: np.ndarray  # per item index: share of customers who bought it
    order: np.ndarray  # item indices, most popular first
    by_category: dict[str, np.ndarray]  # category -> item indices, most popular first
    item_category: dict[str, str]  # any item the items table knows (bought or not) -> category

    @classmethod
    def build(
        cls, df: pd.DataFrame, items: IdIndex, items_table: pd.DataFrame | None = None
    ) -> PopularityLists:
        """From a validated interactions table; `items_table` adds categories."""
        idx = items.to_internal(df[C.ITEM_ID])
        buyers = np.bincount(idx, minlength=len(items)).astype(np.float64)
        weight = np.bincount(idx, weights=df[C.WEIGHT].to_numpy(np.float64), minlength=len(items))
        score = buyers / max(df[C.CUSTOMER_ID].nunique(), 1)
        order = np.lexsort((np.arange(len(items)), -weight, -buyers))
        item_category = _item_categories(items_table)
        return cls._with_categories(items, score, order, item_category)

    @classmethod
    def _with_categories(
        cls, items: IdIndex, score: np.ndarray, order: np.ndarray, item_category: dict[str, str]
    ) -> PopularityLists:
        ids = items.external_ids
        cats = np.array([item_category.get(str(ids[i])) for i in order], dtype=object)
        by_category: dict[str, np.ndarray] = {}
        if item_category:
            frame = pd.DataFrame({"item": order, "cat": cats}).dropna()
            for cat, group in frame.groupby("cat", sort=True):
                by_category[str(cat)] = group["item"].to_numpy(np.int64)
        return cls(items, score, order.astype(np.int64), by_category, item_category)

    def top(
        self, k: int, *, exclude: Sequence[int] | np.ndarray = (), category: str | None = None
    ) -> list[int]:
        """Up to k item indices, most popular first, skipping `exclude`; [] for an unknown category."""
        order = self.order if category is None else self.by_category.get(category)
        if order is None:
            return []
        skip = set(np.asarray(exclude, dtype=np.int64).tolist())
        out: list[int] = []
        for item in order[: k + len(skip)].tolist():
            if item not in skip:
                out.append(item)
                if len(out) == k:
                    break
        return out

    def category_of(self, item_id: str) -> str | None:
        return self.item_category.get(item_id)

    def to_frame(self) -> pd.DataFrame:
        """Saved form: one row per model item (rank, popularity, category) plus the items the
        items table knows but nobody bought (rank and popularity null), for category lookups."""
        ids = self.items.external_ids
        rank = np.empty(len(self.order), dtype=np.int64)
        rank[self.order] = np.arange(len(self.order))
        known = pd.DataFrame(
            {
                C.ITEM_ID: ids.astype(str),
                RANK: pd.array(rank, dtype="Int64"),
                POPULARITY: self.score,
                C.CATEGORY: [self.item_category.get(str(i)) for i in ids],
            }
        )
        extra = sorted(set(self.item_category) - set(self.items.to_list()))
        unbought = pd.DataFrame(
            {
                C.ITEM_ID: extra,
                RANK: pd.array([None] * len(extra), dtype="Int64"),
                POPULARITY: np.full(len(extra), np.nan),
                C.CATEGORY: [self.item_category[i] for i in extra],
            }
        )
        frame = pd.concat([known, unbought], ignore_index=True) if extra else known
        frame[C.CATEGORY] = frame[C.CATEGORY].astype("string")
        return frame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, items: IdIndex) -> PopularityLists:
        bought = frame[frame[RANK].notna()]
        idx = items.to_internal(bought[C.ITEM_ID])
        score = np.zeros(len(items))
        score[idx] = bought[POPULARITY].to_numpy(np.float64)
        order = np.empty(len(items), dtype=np.int64)
        order[bought[RANK].to_numpy(np.int64)] = idx
        cats = frame.dropna(subset=[C.CATEGORY])
        item_category = dict(zip(cats[C.ITEM_ID].astype(str), cats[C.CATEGORY].astype(str)))
        return cls._with_categories(items, score, order, item_category)


def _item_categories(items_table: pd.DataFrame | None) -> dict[str, str]:
    if items_table is None:
        return {}
    for col in (C.ITEM_ID, C.CATEGORY):
        if col not in items_table.columns:
            raise ValueError(f"items table lacks column {col!r} (has {list(items_table.columns)})")
    known = items_table.dropna(subset=[C.ITEM_ID, C.CATEGORY])
    dup = known[C.ITEM_ID].astype(str).duplicated()
    if dup.any():
        raise ValueError(
            f"items table lists item {known[C.ITEM_ID].iloc[int(np.argmax(dup))]!r} twice"
        )
    return dict(zip(known[C.ITEM_ID].astype(str), known[C.CATEGORY].astype(str)))


def check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 1000:
        raise ValueError(f"k must be an integer from 1 to 1000, got {k!r}")


class PopularityRecommender:
    """Baseline: the globally most bought items, optionally without those already bought."""

    def __init__(self, history: PurchaseHistory, popularity: PopularityLists) -> None:
        self.history = history
        self.popularity = popularity

    @classmethod
    def fit(
        cls, interactions: pd.DataFrame, items: pd.DataFrame | None = None
    ) -> PopularityRecommender:
        df = validate_interactions(interactions)
        history = PurchaseHistory.from_interactions(df)
        return cls(history, PopularityLists.build(df, history.items, items))

    def recommend_batch(
        self, customer_ids: Sequence[str], k: int = 10, exclude_purchased: bool = True
    ) -> dict[str, list[str]]:
        check_k(k)
        out: dict[str, list[str]] = {}
        plain = self.items_external(self.popularity.top(k))
        for cid in customer_ids:
            user = self.history.users.get(cid)
            if user is None or not exclude_purchased:
                out[cid] = plain
            else:
                out[cid] = self.items_external(
                    self.popularity.top(k, exclude=self.history.items_of(user))
                )
        return out

    def items_external(self, internal: Sequence[int]) -> list[str]:
        return self.history.items.to_external(internal)


class BuyAgainRecommender:
    """Baseline: each customer's own most ordered (or most recent) items; [] for a new customer."""

    def __init__(self, history: PurchaseHistory, by: BuyAgainOrder = "frequency") -> None:
        self.history = history
        self.by = by

    @classmethod
    def fit(
        cls, interactions: pd.DataFrame, by: BuyAgainOrder = "frequency"
    ) -> BuyAgainRecommender:
        if by not in ("frequency", "recency"):
            raise ValueError(f"unknown buy-again order {by!r}; expected 'frequency' or 'recency'")
        return cls(PurchaseHistory.from_interactions(validate_interactions(interactions)), by)

    def recommend_batch(self, customer_ids: Sequence[str], k: int = 10) -> dict[str, list[str]]:
        check_k(k)
        out: dict[str, list[str]] = {}
        for cid in customer_ids:
            user = self.history.users.get(cid)
            items = [] if user is None else self.history.buy_again(user, self.by)[:k]
            out[cid] = self.history.items.to_external(items)
        return out
