"""Check the interactions table at the boundary and turn it into user x item matrices.

The interactions table (one row per customer and item, built by
`features.interactions.build_interactions`) is the only training input of the recommenders.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from churnrec import columns as C
from churnrec.models.id_index import IdIndex

LAST_ORDERED_AT = "last_ordered_at"
N_ORDERS = "n_orders"
INTERACTION_COLUMNS = (C.CUSTOMER_ID, C.ITEM_ID, C.WEIGHT, N_ORDERS, LAST_ORDERED_AT)

Weighting = Literal["bm25", "log", "none"]
BM25_FLOOR = 1e-3


class InteractionsError(ValueError):
    """The interactions table cannot be used (missing column, bad value, duplicate pair)."""


def validate_interactions(interactions: pd.DataFrame) -> pd.DataFrame:
    """Checked copy with string ids; rows with weight <= 0 are dropped (nothing kept, e.g.
    negative quantities netting out a purchase).

    Raises `InteractionsError` naming the column and the first bad row.
    """
    missing = [c for c in INTERACTION_COLUMNS if c not in interactions.columns]
    if missing:
        raise InteractionsError(
            f"interactions table lacks column(s) {missing}; expected {list(INTERACTION_COLUMNS)}"
        )
    df = interactions.loc[:, list(INTERACTION_COLUMNS)].reset_index(drop=True)
    for col in (C.CUSTOMER_ID, C.ITEM_ID):
        bad = df[col].isna()
        if bad.any():
            raise InteractionsError(
                f"interactions column {col!r} is null in row {int(bad.idxmax())}"
            )
        df[col] = df[col].astype(str)
    for col in (C.WEIGHT, N_ORDERS):
        values = pd.to_numeric(df[col], errors="coerce").astype("float64")
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(bad.idxmax())
            raise InteractionsError(
                f"interactions column {col!r} must be a finite number; row {row} has "
                f"{df[col].iloc[row]!r}"
            )
        df[col] = values
    df[LAST_ORDERED_AT] = pd.to_datetime(df[LAST_ORDERED_AT])
    dup = df.duplicated([C.CUSTOMER_ID, C.ITEM_ID])
    if dup.any():
        row = int(dup.idxmax())
        raise InteractionsError(
            f"interactions has more than one row for customer {df[C.CUSTOMER_ID].iloc[row]!r} "
            f"and item {df[C.ITEM_ID].iloc[row]!r} (row {row}); expected one row per pair"
        )
    df = df[df[C.WEIGHT] > 0].reset_index(drop=True)
    if df.empty:
        raise InteractionsError(
            "interactions table has no row with weight > 0; nothing to learn from"
        )
    return df


def user_item_matrix(
    df: pd.DataFrame, users: IdIndex, items: IdIndex, value_column: str
) -> sp.csr_matrix:
    """CSR users x items holding `value_column` (float32), rows/cols from the id indexes."""
    rows = users.to_internal(df[C.CUSTOMER_ID])
    cols = items.to_internal(df[C.ITEM_ID])
    matrix = sp.csr_matrix(
        (df[value_column].to_numpy(np.float32), (rows, cols)),
        shape=(len(users), len(items)),
        dtype=np.float32,
    )
    matrix.sort_indices()
    return matrix


def confidence(
    user_items: sp.csr_matrix, weighting: Weighting, *, bm25_k1: float = 100.0, bm25_b: float = 0.8
) -> sp.csr_matrix:
    """Confidence weights for implicit-feedback models.

    bm25 is applied to the item x user matrix (as in implicit's lastfm example) so that
    very popular items and very heavy customers count less; log is log1p of the weight.
    """
    if weighting == "none":
        return user_items.astype(np.float32)
    if weighting == "log":
        out = user_items.astype(np.float32, copy=True)
        out.data = np.log1p(out.data).astype(np.float32)
        return out
    if weighting == "bm25":
        from implicit.nearest_neighbours import bm25_weight

        item_users = bm25_weight(user_items.T.tocsr(), K1=bm25_k1, B=bm25_b)
        out = item_users.T.tocsr().astype(np.float32)
        out.sort_indices()
        # bm25's idf is <= 0 for a customer who bought nearly every item; a purchase is
        # never negative feedback, so keep a small positive floor.
        np.maximum(out.data, BM25_FLOOR, out=out.data)
        return out
    raise ValueError(f"unknown weighting {weighting!r}; expected 'bm25', 'log' or 'none'")
