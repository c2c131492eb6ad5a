"""Each customer's own purchases as CSR rows: the "already bought" filter and buy-again lists.

Rows are customers, columns items, both numbered by `IdIndex`. Looking up one customer's
items is two array slices, so filtering costs microseconds per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from churnrec import columns as C
from churnrec.models.id_index import IdIndex
from churnrec.models.ranking.interactions import (
    LAST_ORDERED_AT,
    N_ORDERS,
    user_item_matrix,
)

BuyAgainOrder = Literal["frequency", "recency"]
_LAST_SECONDS = "_last_seconds"


@dataclass(frozen=True)
class PurchaseHistory:
    users: IdIndex
    items: IdIndex
    n_orders: sp.csr_matrix  # float32: orders that contained the item (>= 1 for a stored pair)
    last_ordered: sp.csr_matrix  # float64: seconds since epoch of the last order with the item

    @classmethod
    def from_interactions(
        cls, df: pd.DataFrame, users: IdIndex | None = None, items: IdIndex | None = None
    ) -> PurchaseHistory:
        """Build from a validated interactions table (see `validate_interactions`)."""
        users = users or IdIndex.from_values(df[C.CUSTOMER_ID])
        items = items or IdIndex.from_values(df[C.ITEM_ID])
        frame = df.assign(
            # n_orders 0 (unknown) still means bought once, so the pair is stored
            **{N_ORDERS: df[N_ORDERS].clip(lower=1.0)},
            **{_LAST_SECONDS: _epoch_seconds(df[LAST_ORDERED_AT])},
        )
        n_orders = user_item_matrix(frame, users, items, N_ORDERS)
        rows = users.to_internal(frame[C.CUSTOMER_ID])
        cols = items.to_internal(frame[C.ITEM_ID])
        last = sp.csr_matrix(
            (frame[_LAST_SECONDS].to_numpy(np.float64) + 1.0, (rows, cols)),  # +1: keep 1970 stored
            shape=(len(users), len(items)),
        )
        last.sort_indices()
        return cls(users, items, n_orders, last)

    def items_of(self, user: int) -> np.ndarray:
        """Item indices the customer bought (sorted)."""
        m = self.n_orders
        return m.indices[m.indptr[user] : m.indptr[user + 1]]

    def counts_of(self, user: int) -> np.ndarray:
        m = self.n_orders
        return m.data[m.indptr[user] : m.indptr[user + 1]]

    def buy_again(self, user: int, by: BuyAgainOrder = "frequency") -> np.ndarray:
        """The customer's items, most ordered first (or most recent first); ties by item id."""
        items = self.items_of(user)
        counts = self.counts_of(user)
        last = self.last_ordered.data[
            self.last_ordered.indptr[user] : self.last_ordered.indptr[user + 1]
        ]
        if by == "frequency":
            order = np.lexsort((items, -last, -counts))
        elif by == "recency":
            order = np.lexsort((items, -counts, -last))
        else:
            raise ValueError(f"unknown buy-again order {by!r}; expected 'frequency' or 'recency'")
        return items[order]


def _epoch_seconds(values: pd.Series) -> np.ndarray:
    ts = pd.to_datetime(values).astype("datetime64[us]")
    seconds = (ts - pd.Timestamp(0)).dt.total_seconds().to_numpy(np.float64)
    return np.nan_to_num(seconds, nan=0.0)
