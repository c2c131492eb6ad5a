"""The customer snapshot at a cut-off T: one row per customer with a non-returned order by T."""

from __future__ import annotations

import re
from datetime import date, datetime

import duckdb
import pandas as pd

from churnrec import columns as C
from features import sql

CHANNEL_PREFIX = "channel_share_"


def as_date(value: date | datetime | str) -> date:
    """Cut-offs are dates; accept an ISO string or a datetime for convenience."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def channel_column(channel: str) -> str:
    """`channel_share_<name>` with the channel lower-cased and non-alphanumerics as `_`."""
    name = re.sub(r"[^0-9a-z]+", "_", channel.strip().lower()).strip("_") or "unnamed"
    return CHANNEL_PREFIX + name


def has_monetary(con: duckdb.DuckDBPyConnection, as_of: date) -> bool:
    """Whether any order line up to T has an amount (decided on history only: point-in-time)."""
    params = {"end": sql.cutoff_params(as_of)["end"]}
    return bool(con.execute(sql.has_monetary_sql(), params).fetchone()[0])


def _channel_columns(con: duckdb.DuckDBPyConnection, as_of: date) -> dict[str, list[str]]:
    params = {"end": sql.cutoff_params(as_of)["end"]}
    columns: dict[str, list[str]] = {}
    for (raw,) in con.execute(sql.channels_sql(), params).fetchall():
        columns.setdefault(channel_column(raw), []).append(raw)
    return columns


def _has_rows(con: duckdb.DuckDBPyConnection, view: str) -> bool:
    return con.execute(f"SELECT 1 FROM {view} LIMIT 1").fetchone() is not None


def build_customer_snapshot(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Features of every customer known at T from lines with timestamp < T + 1 day only.

    Columns are documented in features/README.md. Without monetary data (every amount up to T
    is null) the monetary/spend columns and m_score are left out, not zero-filled.
    """
    as_of = as_date(as_of)
    monetary = has_monetary(con, as_of)
    query = sql.snapshot_sql(
        _channel_columns(con, as_of),
        has_monetary=monetary,
        with_customer_attributes=_has_rows(con, C.CUSTOMERS),
    )
    params = sql.cutoff_params(as_of)
    frame = con.execute(query, params).df()
    frame.attrs["has_monetary"] = monetary
    return frame
