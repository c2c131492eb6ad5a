"""Churn, repurchase and CLV-spend labels for the customers of the snapshot at T."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import duckdb
import pandas as pd

from churnrec import columns as C
from churnrec.features import sql
from churnrec.features.db import default_as_of, registered_customers, restricted
from churnrec.features.snapshot import as_date
from churnrec.settings import HORIZON_DAYS

SPEND = "future_spend"  # the CLV target
_SUBSET = "_label_subset"
_SPEND_SQL = f"""SELECT {C.CUSTOMER_ID}, SUM({C.AMOUNT}) AS {SPEND} FROM {C.ORDERS}
WHERE {C.ORDERED_AT} >= $end AND {C.ORDERED_AT} < $horizon_end
  AND NOT COALESCE({C.IS_RETURN}, FALSE) AND {C.CUSTOMER_ID} IS NOT NULL
GROUP BY 1 ORDER BY 1"""


class LabelWindowError(ValueError):
    """The label horizon after T reaches past the last day that may be looked at."""


def build_labels(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    horizon_days: int = HORIZON_DAYS,
    observed_until: date | None = None,
    customers: Sequence[str] | None = None,
) -> pd.DataFrame:
    """`churned` = no non-returned order in (T, T+H]; `days_to_next_order` to the first order in
    (T, observed_until] (default: the last order date), else to `observed_until`, `censored`.
    Only orders up to `observed_until` are read; `customers`: only their rows."""
    as_of = as_date(as_of)
    if horizon_days <= 0:
        raise ValueError(f"horizon_days must be positive, got {horizon_days}")
    observed_until = as_date(observed_until) if observed_until else default_as_of(con)
    horizon_end = as_of + timedelta(days=horizon_days)
    if horizon_end > observed_until:
        raise LabelWindowError(
            f"cut-off {as_of} + {horizon_days} days = {horizon_end} is after the last observed "
            f"day {observed_until}; pick an earlier --as-of or a shorter --horizon-days"
        )
    params = {
        "as_of": as_of,
        "end": sql.cutoff_params(as_of)["end"],
        "horizon_days": horizon_days,
        "horizon_end": sql.cutoff_params(horizon_end)["end"],
        "observed_end": sql.cutoff_params(observed_until)["end"],
        "observed_until": observed_until,
    }
    if customers is None:
        return con.execute(sql.labels_sql(), params).df()
    with registered_customers(con, _SUBSET, customers) as subset:
        query = f"{restricted(sql.labels_sql(), subset)} ORDER BY {C.CUSTOMER_ID}"
        return con.execute(query, params).df()


def build_spend_labels(con: duckdb.DuckDBPyConnection, as_of: date, horizon_days: int) -> pd.Series:
    """Spend of kept lines per customer in (T, T+H] (the CLV target), by customer id: absent
    without a kept line there (spend 0), NaN when none of those lines has an amount."""
    as_of = as_date(as_of)
    if horizon_days <= 0:
        raise ValueError(f"horizon_days must be positive, got {horizon_days}")
    params = {
        "end": sql.cutoff_params(as_of)["end"],
        "horizon_end": sql.cutoff_params(as_of + timedelta(days=horizon_days))["end"],
    }
    frame = con.execute(_SPEND_SQL, params).df()
    return frame.set_index(C.CUSTOMER_ID)[SPEND].astype("float64")
