"""Global time holdout for recommenders, over order lines.

The holdout is the last `holdout_days` calendar days of orders, ending with the day of the
last order: `split_at = midnight after the last order day - holdout_days`. Lines before
`split_at` train the model (`train_as_of = split_at - 1 day` in the feature pipeline's cut-off
terms); the items each customer bought from `split_at` on are the truth. One global date (not
a per-customer leave-last-out) so no training line is later than any holdout line. Returned
lines and lines without an item count for neither side. Holdout customers absent from training
are cold-start: their truth is kept apart, since CF can only answer them with popularity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.models.recommender_parts.interactions import LAST_ORDERED_AT, N_ORDERS

_REQUIRED = (C.CUSTOMER_ID, C.ITEM_ID, C.ORDERED_AT)


@dataclass(frozen=True)
class RecSplit:
    train_lines: pd.DataFrame  # order lines before split_at (returns and item-less lines removed)
    truth: dict[str, set[str]]  # holdout items of customers who also appear in train_lines
    cold_start_truth: dict[str, set[str]]  # holdout items of customers new in the holdout
    split_at: pd.Timestamp  # first instant of the holdout

    @property
    def train_as_of(self) -> date:
        """The feature-pipeline cut-off that sees exactly the training lines."""
        return (self.split_at - pd.Timedelta(days=1)).date()


def _usable_lines(orders: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _REQUIRED if c not in orders.columns]
    if missing:
        raise ValueError(f"orders table lacks column(s) {missing} needed for a recommender split")
    lines = orders.dropna(subset=[C.CUSTOMER_ID, C.ITEM_ID, C.ORDERED_AT])
    if C.IS_RETURN in lines.columns:
        lines = lines[~lines[C.IS_RETURN].fillna(False).astype(bool)]
    lines = lines.assign(
        **{
            C.CUSTOMER_ID: lines[C.CUSTOMER_ID].astype(str),
            C.ITEM_ID: lines[C.ITEM_ID].astype(str),
            C.ORDERED_AT: pd.to_datetime(lines[C.ORDERED_AT]),
        }
    )
    return lines.reset_index(drop=True)


def rec_holdout_split(orders: pd.DataFrame, holdout_days: int = 28) -> RecSplit:
    """Split order lines at one date; see the module docstring."""
    if holdout_days < 1:
        raise ValueError(f"holdout_days must be positive, got {holdout_days}")
    lines = _usable_lines(orders)
    if lines.empty:
        raise ValueError("orders have no non-returned line with an item_id; nothing to split")
    last_day = lines[C.ORDERED_AT].max().normalize()
    split_at = last_day + pd.Timedelta(days=1) - pd.Timedelta(days=holdout_days)
    in_train = lines[C.ORDERED_AT] < split_at
    train, holdout = lines[in_train].reset_index(drop=True), lines[~in_train]
    if train.empty:
        raise ValueError(
            f"no order line before {split_at.date()}: the data spans less than the "
            f"{holdout_days}-day holdout; use a smaller holdout_days"
        )
    known = set(train[C.CUSTOMER_ID])
    truth: dict[str, set[str]] = {}
    cold: dict[str, set[str]] = {}
    for customer, items in holdout.groupby(C.CUSTOMER_ID, sort=True)[C.ITEM_ID]:
        (truth if customer in known else cold)[str(customer)] = set(items)
    return RecSplit(train, truth, cold, split_at)


def split_last_weeks(
    orders: pd.DataFrame, holdout_days: int = 28
) -> tuple[pd.DataFrame, dict[str, set[str]]]:
    """(train_lines, truth for customers seen in training); cold-start via `rec_holdout_split`."""
    split = rec_holdout_split(orders, holdout_days)
    return split.train_lines, split.truth


def interactions_from_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """customer_id, item_id, weight, n_orders, last_ordered_at from order lines.

    weight = summed quantity (missing quantity counts 1), n_orders = distinct orders with the
    item (order_id, else distinct ordered_at), last_ordered_at = latest order time. Returned
    lines and lines without an item are dropped first.
    """
    usable = _usable_lines(lines)
    quantity = (
        pd.to_numeric(usable[C.QUANTITY], errors="coerce").fillna(1.0)
        if C.QUANTITY in usable.columns
        else pd.Series(1.0, index=usable.index)
    )
    order_key = (
        usable[C.ORDER_ID].astype(str) if C.ORDER_ID in usable.columns else usable[C.ORDERED_AT]
    )
    frame = pd.DataFrame(
        {
            C.CUSTOMER_ID: usable[C.CUSTOMER_ID],
            C.ITEM_ID: usable[C.ITEM_ID],
            "_qty": quantity.astype(np.float64),
            "_order": order_key,
            C.ORDERED_AT: usable[C.ORDERED_AT],
        }
    )
    out = (
        frame.groupby([C.CUSTOMER_ID, C.ITEM_ID], sort=True)
        .agg(
            **{
                C.WEIGHT: ("_qty", "sum"),
                N_ORDERS: ("_order", "nunique"),
                LAST_ORDERED_AT: (C.ORDERED_AT, "max"),
            }
        )
        .reset_index()
    )
    out[N_ORDERS] = out[N_ORDERS].astype(np.int64)
    out = out[out[C.WEIGHT] > 0].reset_index(drop=True)  # zero / netted-out quantities
    return out[[C.CUSTOMER_ID, C.ITEM_ID, C.WEIGHT, N_ORDERS, LAST_ORDERED_AT]]
