"""The customer snapshot at a cut-off T: one row per customer with a non-returned order by T."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from churnrec import columns as C
from churnrec.columns import Feature
from churnrec.features import sql
from churnrec.features.db import registered_customers, restricted
from churnrec.features.fetch import fetch_frame
from churnrec.features.result_file import write_query_parquet

CHANNEL_PREFIX = "channel_share_"
# Left out (not zero-filled) when the orders carry no prices.
MONETARY_COLUMNS = (
    Feature.MONETARY_TOTAL,
    Feature.MONETARY_AVG,
    Feature.SPEND_30D,
    Feature.SPEND_90D,
    Feature.SPEND_180D,
    Feature.SPEND_TREND,
    Feature.M_SCORE,
)
LINES_TABLE = "_snapshot_lines"  # temporary, dropped when the snapshot is built
SUBSET_TABLE = "_snapshot_subset"  # the customers asked for, when not everyone


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
    return bool(con.execute(sql.has_monetary_sql(), params).fetchall())


def channel_columns(rows: Iterable[tuple[str]]) -> dict[str, list[str]]:
    """Share column -> the raw channel values it counts (`channels_sql` rows)."""
    columns: dict[str, list[str]] = {}
    for (raw,) in rows:
        columns.setdefault(channel_column(raw), []).append(raw)
    return columns


def snapshot_customers(con: duckdb.DuckDBPyConnection, as_of: date) -> list[str]:
    """The ids the snapshot at T has rows for, sorted (cheap: one distinct over the orders)."""
    query = f"{sql.snapshot_customers_sql()} ORDER BY 1"
    end = sql.cutoff_params(as_date(as_of))["end"]
    return [row[0] for row in con.execute(query, {"end": end}).fetchall()]


@contextmanager
def _snapshot_query(
    con: duckdb.DuckDBPyConnection, as_of: date, customers: Sequence[str] | None = None
) -> Iterator[tuple[str, dict[str, object], bool]]:
    """The snapshot query at T, its bind values and whether it has monetary columns. History lines
    (of `customers` only, if given) are copied once to a temp table: no re-reads, and DuckDB
    groups the short ids of a table it wrote as integers (a third faster)."""
    params = sql.cutoff_params(as_of)
    monetary = has_monetary(con, as_of)
    history = sql.history_sql()
    with ExitStack() as stack:
        if customers is not None:
            history = restricted(
                history, stack.enter_context(registered_customers(con, SUBSET_TABLE, customers))
            )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {LINES_TABLE} AS {history}", {"end": params["end"]}
        )
        stack.callback(con.execute, f"DROP TABLE IF EXISTS {LINES_TABLE}")
        # a customer subset takes its channel columns from all history: the full snapshot's
        query = sql.channels_sql(LINES_TABLE if customers is None else None)
        channels = channel_columns(con.execute(query, sql.bind(query, params)).fetchall())
        query = sql.snapshot_sql(
            channels,
            has_monetary=monetary,
            with_customer_attributes=bool(
                con.execute(f"SELECT 1 FROM {C.CUSTOMERS} LIMIT 1").fetchall()
            ),
            lines=LINES_TABLE,
        )
        yield query, sql.bind(query, params), monetary


def build_customer_snapshot(
    con: duckdb.DuckDBPyConnection, as_of: date, customers: Sequence[str] | None = None
) -> pd.DataFrame:
    """Features of every customer known at T, from lines before T + 1 day only (without amounts,
    no monetary columns: `attrs["has_monetary"]`). `customers` builds only theirs, at a cost that
    shrinks with them; their RFM scores are quintiles within them."""
    with _snapshot_query(con, as_date(as_of), customers) as (query, params, monetary):
        frame = fetch_frame(con, query, params)
    frame.attrs["has_monetary"] = monetary
    return frame


def write_customer_snapshot(
    con: duckdb.DuckDBPyConnection, as_of: date, path: Path
) -> tuple[int, bool]:
    """`build_customer_snapshot` written straight to the Parquet file `path`, never as a pandas
    frame, so millions of customers fit in memory; (customers, has monetary columns)."""
    with _snapshot_query(con, as_date(as_of)) as (query, params, monetary):
        n_rows = write_query_parquet(con, query, params, path)
    return n_rows, monetary
