"""Frequency / recency / T per customer: the three numbers "buy till you die" models read.

A purchase is a purchase *day*: lines of one customer on one calendar day are one transaction,
as in the CDNOW literature (Fader, Hardie and Lee 2005). Only orders on or before `as_of` are
read, so the summary at T never sees the future.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from churnrec.columns import CUSTOMER_ID, IS_RETURN, ORDERED_AT

FREQUENCY = "frequency"
RECENCY = "recency"
AGE_T = "T"
HOLDOUT_PURCHASES = "holdout_purchases"


def _purchase_days(
    orders: pd.DataFrame, customer_col: str, time_col: str, exclude_returns: bool
) -> pd.DataFrame:
    """One row per (customer, calendar day) with a purchase; checks the columns it needs."""
    missing = [c for c in (customer_col, time_col) if c not in orders.columns]
    if missing:
        raise KeyError(f"orders has no column(s) {missing}; columns are {list(orders.columns)}")
    frame = orders
    if exclude_returns and IS_RETURN in frame.columns:
        frame = frame[~frame[IS_RETURN].fillna(False).astype(bool)]
    try:
        days = pd.to_datetime(frame[time_col]).dt.normalize()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"orders column {time_col!r} does not hold timestamps: {exc}") from exc
    bad = days.isna() | frame[customer_col].isna()
    if bad.any():
        row = bad.to_numpy().nonzero()[0][0]
        column = time_col if days.isna().iloc[row] else customer_col
        raise ValueError(f"orders row {row} has an empty {column!r}")
    out = pd.DataFrame({customer_col: frame[customer_col].to_numpy(), "day": days.to_numpy()})
    return out.drop_duplicates(ignore_index=True)


def rfm_summary(
    orders: pd.DataFrame,
    as_of: date,
    *,
    time_unit_days: float = 7.0,
    customer_col: str = CUSTOMER_ID,
    time_col: str = ORDERED_AT,
    first_purchase_period_start: bool = False,
    exclude_returns: bool = True,
) -> pd.DataFrame:
    """Frequency, recency and T at cut-off `as_of`, one row per customer who bought by then.

    - `frequency`: repeat purchase days (distinct purchase days minus one).
    - `recency`: time from the first to the last purchase day, in units of `time_unit_days`.
    - `T`: time from the first purchase day to `as_of`. With the default
      `first_purchase_period_start=False` both are plain differences of calendar dates, the
      literature's convention (CDNOW: a first purchase on 1997-01-01 and a calibration period
      ending 1997-09-30 give T = 272 / 7 = 38.86 weeks). With `True`, T runs from the start of
      the first purchase day to the end of the `as_of` day, one day longer, so a customer who
      first bought on `as_of` has T = 1 day instead of 0.

    Orders after the end of the `as_of` day are ignored; returned lines (`is_return`, when the
    column exists and `exclude_returns`) are not purchases. Raises ValueError when nothing is
    left to summarise.
    """
    if time_unit_days <= 0:
        raise ValueError(f"time_unit_days must be positive, got {time_unit_days}")
    days = _purchase_days(orders, customer_col, time_col, exclude_returns)
    cut = pd.Timestamp(as_of)
    days = days[days["day"] <= cut]
    if days.empty:
        raise ValueError(f"no purchases on or before as_of={as_of} in {len(orders)} order lines")
    grouped = days.groupby(customer_col, sort=True)["day"]
    first = grouped.min()
    last = grouped.max()
    unit = pd.Timedelta(days=time_unit_days)
    end = cut + pd.Timedelta(days=1) if first_purchase_period_start else cut
    summary = pd.DataFrame(
        {
            FREQUENCY: (grouped.size() - 1).astype("int64"),
            RECENCY: ((last - first) / unit).astype("float64"),
            AGE_T: ((end - first) / unit).astype("float64"),
        }
    )
    summary.index.name = customer_col
    return summary


def purchases_between(
    orders: pd.DataFrame,
    after: date,
    until: date,
    *,
    customer_col: str = CUSTOMER_ID,
    time_col: str = ORDERED_AT,
    exclude_returns: bool = True,
) -> pd.Series:
    """Purchase days per customer in the holdout window (end of `after`, end of `until`].

    Customers without a purchase in the window are absent; reindex onto a summary's index
    with `fill_value=0` to count them.
    """
    if until < after:
        raise ValueError(f"holdout window ends ({until}) before it starts ({after})")
    days = _purchase_days(orders, customer_col, time_col, exclude_returns)
    start = pd.Timestamp(after + timedelta(days=1))
    in_window = days[(days["day"] >= start) & (days["day"] <= pd.Timestamp(until))]
    counts = in_window.groupby(customer_col, sort=True).size().astype("int64")
    counts.name = HOLDOUT_PURCHASES
    return counts
