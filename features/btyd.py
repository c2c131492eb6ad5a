"""Frequency / recency / T per customer: the three numbers "buy till you die" models read, off
the customer snapshot, so BTYD baselines, churn features and CLV share one definition of a
repeat purchase (an order day, returns excluded). Only lines on or before T are read."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pandas as pd

from churnrec import columns as C
from churnrec.btyd_summary import btyd_inputs
from churnrec.features.snapshot import as_date, build_customer_snapshot

FREQUENCY = "frequency"
RECENCY = "recency"
AGE_T = "T"
HOLDOUT_PURCHASES = "holdout_purchases"


def btyd_summary_from_snapshot(
    snapshot: pd.DataFrame, *, time_unit_days: float = 7.0
) -> pd.DataFrame:
    """Frequency, recency and T of each snapshot row, indexed by `customer_id`: the one
    definition in `churnrec.btyd_summary`, which the models read too."""
    frequency, recency, age = btyd_inputs(snapshot, time_unit_days)
    if C.CUSTOMER_ID not in snapshot.columns:
        raise ValueError(f"snapshot lacks {C.CUSTOMER_ID!r}, needed for the BTYD summary")
    summary = pd.DataFrame(
        {FREQUENCY: frequency.astype("int64"), RECENCY: recency, AGE_T: age},
        index=pd.Index(snapshot[C.CUSTOMER_ID].astype(str).to_numpy(), name=C.CUSTOMER_ID),
    )
    return summary.sort_index(kind="stable")


def build_btyd_summary(
    con: duckdb.DuckDBPyConnection, as_of: date, *, time_unit_days: float = 7.0
) -> pd.DataFrame:
    """The BTYD summary at T of every customer with a kept order by then (ValueError if none)."""
    as_of = as_date(as_of)
    summary = btyd_summary_from_snapshot(
        build_customer_snapshot(con, as_of), time_unit_days=time_unit_days
    )
    if summary.empty:
        raise ValueError(f"no kept order on or before as_of={as_of}: nothing to summarise")
    return summary


def _holdout_sql() -> str:
    """Order days per customer in [$start, $end); an order's time is its first kept line."""
    return f"""WITH ords AS (
    SELECT {C.CUSTOMER_ID} AS customer_id, {C.ORDER_ID} AS order_id,
        MIN({C.ORDERED_AT}) AS ordered_at
    FROM {C.ORDERS}
    WHERE {C.ORDERED_AT} < $end AND NOT COALESCE({C.IS_RETURN}, FALSE)
      AND {C.CUSTOMER_ID} IS NOT NULL
    GROUP BY 1, 2
)
SELECT customer_id, CAST(COUNT(DISTINCT CAST(ordered_at AS DATE)) AS BIGINT) AS n
FROM ords WHERE ordered_at >= $start
GROUP BY customer_id ORDER BY customer_id"""


def build_holdout_purchases(con: duckdb.DuckDBPyConnection, after: date, until: date) -> pd.Series:
    """Order days per customer in (end of `after`, end of `until`], counted as the summary
    counts them (frequency at `until` = at `after` + this); customers without one are absent."""
    after, until = as_date(after), as_date(until)
    if until < after:
        raise ValueError(f"holdout window ends ({until}) before it starts ({after})")
    start = pd.Timestamp(after + timedelta(days=1)).to_pydatetime()
    end = pd.Timestamp(until + timedelta(days=1)).to_pydatetime()
    frame = con.execute(_holdout_sql(), {"start": start, "end": end}).df()
    return pd.Series(
        frame["n"].to_numpy(dtype="int64"),
        index=pd.Index(frame[C.CUSTOMER_ID].astype(str).to_numpy(), name=C.CUSTOMER_ID),
        name=HOLDOUT_PURCHASES,
    )
