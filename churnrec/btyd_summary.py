"""Frequency, recency and T: the three numbers "buy till you die" models read, defined once.

Read off the customer snapshot (`repeat_purchase_days`, `recency_days`, `tenure_days`), so the
feature pipeline's BTYD summary (`features.btyd`), the BG/NBD and Pareto/NBD rules, the churn
model's BTYD features and the CLV model all see one definition (features and models are sibling
layers and cannot import each other, so it lives on the ground floor). Pure: numbers in,
numbers out, no I/O, so a served model computes it from the one row it is given.

- `frequency`: repeat purchase days (distinct order days minus one);
- `recency`: first -> last order day (`tenure_days - recency_days`), never negative, and 0 for
  a customer without repeats (BTYD requires it; an inconsistent row must not crash scoring);
- `T`: first order day -> the cut-off (`tenure_days`), plain differences of calendar dates as
  in the CDNOW literature (a first purchase on 1997-01-01 and a calibration period ending
  1997-09-30 give T = 272 / 7 = 38.86 weeks).

Rows with a missing recency or tenure come back NaN in all three.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnrec.columns import Feature

SOURCE_COLUMNS = (Feature.RECENCY_DAYS, Feature.TENURE_DAYS, Feature.REPEAT_PURCHASE_DAYS)
TIME_UNIT_DAYS = 7.0  # weeks, the literature's unit


def btyd_inputs(
    snapshot: pd.DataFrame, time_unit_days: float = TIME_UNIT_DAYS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frequency, recency, T) per snapshot row, recency and T in `time_unit_days`."""
    if time_unit_days <= 0:
        raise ValueError(f"time_unit_days must be positive, got {time_unit_days}")
    missing = [c for c in SOURCE_COLUMNS if c not in snapshot.columns]
    if missing:
        raise ValueError(
            f"snapshot lacks {missing}, needed for the BTYD summary; columns are "
            f"{list(snapshot.columns)}"
        )
    recency, tenure, repeats = (
        snapshot[c].to_numpy(dtype="float64", na_value=np.nan) for c in SOURCE_COLUMNS
    )
    with np.errstate(invalid="ignore"):
        span = np.maximum(tenure - recency, 0.0)
    repeats = np.where(np.isnan(span), np.nan, np.nan_to_num(repeats, nan=0.0))
    span = np.where(repeats == 0, 0.0, span)
    return repeats, span / time_unit_days, tenure / time_unit_days
