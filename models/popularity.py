"""Popularity lists and the two baselines that need no training.

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


@dataclass(frozen=True)
class PopularityLists:
    items: IdIndex  # the model's items (those bought at least once)
    score: np.ndarray  # per item index: share of customers who bought it
    order: np.ndarray  # item indices, most popular first

    @classmethod
    def build(cls, df: pd.DataFrame, items: IdIndex) -> PopularityLists:
        """From a validated interactions table."""
        idx = items.to_internal(df[C.ITEM_ID])
        buyers = np.bincount(idx, minlength=len(items)).astype(np.float64)
        weight = np.bincount(idx, weights=df[C.WEIGHT].to_numpy(np.float64), minlength=len(items))
        score = buyers / max(df[C.CUSTOMER_ID].nunique(), 1)
        order = np.lexsort((np.arange(len(items)), -weight, -buyers))
        return cls(items, score, order.astype(np.int64))

    def top(self, k: int, *, exclude: Sequence[int] | np.ndarray = ()) -> list[int]:
        """Up to k item indices, most popular first, skipping `exclude`."""
        skip = set(np.asarray(exclude, dtype=np.int64).tolist())
        return [i for i in self.order[: k + len(skip)].tolist() if i not in skip][:k]


def check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 1000:
        raise ValueError(f"k must be an integer from 1 to 1000, got {k!r}")


class PopularityRecommender:
    """Baseline: the globally most bought items, optionally without those already bought."""

    def __init__(self, history: PurchaseHistory, popularity: PopularityLists) -> None:
        self.history = history
        self.popularity = popularity

    @classmethod
    def fit(cls, interactions: pd.DataFrame) -> PopularityRecommender:
        df = validate_interactions(interactions)
        history = PurchaseHistory.from_interactions(df)
        return cls(history, PopularityLists.build(df, history.items))

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
