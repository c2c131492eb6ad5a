"""Lifecycle stage (new, growing, mature, declining, lapsed) as one SQL CASE expression; recency is
judged against the customer's own cadence (mean gap between order days), so a 60-day buyer is
not "lapsed" after 40 quiet days. First match wins; `features/README.md` has the rules in words."""

from __future__ import annotations

NEW = "new"
GROWING = "growing"
MATURE = "mature"
DECLINING = "declining"
LAPSED = "lapsed"
STAGES = (NEW, GROWING, MATURE, DECLINING, LAPSED)

LAPSE_CADENCE_FACTOR = 3.0  # repeat buyer: lapsed after 3x their mean gap of silence ...
LAPSE_MIN_DAYS = 30  # ... and at least this many days
ONE_TIME_LAPSE_DAYS = 180  # one-time buyer: lapsed this long after their only order day
NEW_TENURE_DAYS = 90  # first order at most this many days before the cut-off
OVERDUE_CADENCE_FACTOR = 1.5  # silent for more than 1.5x the mean gap: declining
GROWING_MAX_TENURE_DAYS = 365  # growth is a young customer's stage; older ones are mature


def lifecycle_sql() -> str:
    """CASE over recency_days, tenure_days, gap_mean_days and orders_trend."""
    return f"""CASE
        WHEN gap_mean_days IS NULL AND recency_days > {ONE_TIME_LAPSE_DAYS} THEN '{LAPSED}'
        WHEN gap_mean_days IS NOT NULL
             AND recency_days > GREATEST({LAPSE_CADENCE_FACTOR} * gap_mean_days, {LAPSE_MIN_DAYS})
             THEN '{LAPSED}'
        WHEN tenure_days <= {NEW_TENURE_DAYS} THEN '{NEW}'
        WHEN gap_mean_days IS NULL THEN '{DECLINING}'
        WHEN recency_days > {OVERDUE_CADENCE_FACTOR} * gap_mean_days OR orders_trend < 0
             THEN '{DECLINING}'
        WHEN orders_trend > 0 AND tenure_days <= {GROWING_MAX_TENURE_DAYS} THEN '{GROWING}'
        ELSE '{MATURE}'
    END"""
