"""Frequency / recency / T per customer: the three numbers "buy till you die" models read.

The summary is read off the customer snapshot (`repeat_purchase_days`, `recency_days`,
`tenure_days`), so the BG/NBD and Pareto/NBD baselines, the churn model's BTYD features and the
CLV model all see one definition of a repeat purchase. A purchase is an *order day* (see
features/README.md): orders of one customer on one calendar day are one transaction, as in the
CDNOW literature (Fader, Hardie and Lee 2005); returned lines are not purchases. Only lines on
or before T are read, so the summary at T never sees the future.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.features.snapshot import as_date, build_customer_snapshot

FREQUENCY = "frequency"
RECENCY = "recency"
AGE_T = "T"
HOLDOUT_PURCHASES = "holdout_purchases"
# Snapshot columns the summary is computed from.
SOURCE_COLUMNS = ("repeat_purchase_days", "recency_days", "tenure_days")


def btyd_summary_from_snapshot(
    snapshot: pd.DataFrame, *, time_unit_days: float = 7.0
) -> pd.DataFrame:
    """Frequency, recency and T of each snapshot row, indexed by `customer_id`.

    - `frequency`: repeat purchase days (distinct order days minus one).
    - `recency`: first -> last order day (`tenure_days - recency_days`), in `time_unit_days`.
    - `T`: first order day -> T (`tenure_days`): plain differences of calendar dates, the
      literature's convention (CDNOW: a first purchase on 1997-01-01 and a calibration period
      ending 1997-09-30 give T = 272 / 7 = 38.86 weeks).
    """
    if time_unit_days <= 0:
        raise ValueError(f"time_unit_days must be positive, got {time_unit_days}")
    missing = [c for c in (C.CUSTOMER_ID, *SOURCE_COLUMNS) if c not in snapshot.columns]
    if missing:
        raise ValueError(
            f"snapshot lacks {missing}, needed for the BTYD summary; columns are "
            f"{list(snapshot.columns)}"
        )
    repeats, recency_days, tenure_days = (
        snapshot[c].to_numpy(dtype="float64", na_value=np.nan) for c in SOURCE_COLUMNS
    )
    summary = pd.DataFrame(
        {
            FREQUENCY: repeats.astype("int64"),
            RECENCY: (tenure_days - recency_days) / time_unit_days,
            AGE_T: tenure_days / time_unit_days,
        },
        index=pd.Index(snapshot[C.CUSTOMER_ID].astype(str).to_numpy(), name=C.CUSTOMER_ID),
    )
    return summary.sort_index(kind="stable")


def build_btyd_summary(
    con: duckdb.DuckDBPyConnection, as_of: date, *, time_unit_days: float = 7.0
) -> pd.DataFrame:
    """The BTYD summary at T of every customer with a kept order by then (see module doc).

    Raises ValueError when nobody has bought anything by T.
    """
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
    """Order days per customer in the holdout window (end of `after`, end of `until`].

    Counted as the summary counts them, so `frequency` at `until` = `frequency` at `after` +
    this count for a customer known at `after`. Customers without a purchase in the window are
    absent; reindex onto a summary's index with `fill_value=0` to count them.
    """
    after, until = as_date(after), as_date(until)
    if until < after:
        raise ValueError(f"holdout window ends ({until}) before it starts ({after})")
    start = pd.Timestamp(after + timedelta(days=1)).to_pydatetime()
    end = pd.Timestamp(until + timedelta(days=1)).to_pydatetime()
    frame = con.execute(_holdout_sql(), {"start": start, "end": end}).df()
    counts = pd.Series(
        frame["n"].to_numpy(dtype="int64"),
        index=pd.Index(frame["customer_id"].astype(str).to_numpy(), name=C.CUSTOMER_ID),
        name=HOLDOUT_PURCHASES,
    )
    return counts
