"""Frequency, recency and T, the three numbers "buy till you die" models read, defined once on
the ground floor for features and models alike; pure, so a served model computes it per row."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnrec.columns import Feature

SOURCE_COLUMNS = (Feature.RECENCY_DAYS, Feature.TENURE_DAYS, Feature.REPEAT_PURCHASE_DAYS)
TIME_UNIT_DAYS = 7.0  # weeks, the literature's unit


def btyd_inputs(
    snapshot: pd.DataFrame, time_unit_days: float = TIME_UNIT_DAYS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frequency, recency, T) per row: repeat purchase days, first -> last order (0 without
    repeats, as BTYD requires; never negative), first order -> cut-off; the last two in
    `time_unit_days`, NaN where recency or tenure is missing."""
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
