"""Customer x item interaction weights, the recommender's training input: built only here."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pandas as pd

from churnrec.features import sql
from churnrec.features.db import connect_frames
from churnrec.features.snapshot import as_date

# Reads every line of the view: later than any timestamp DuckDB stores from real data.
_NO_CUTOFF = datetime(9999, 1, 1)


def build_interactions(con: duckdb.DuckDBPyConnection, as_of: date | None) -> pd.DataFrame:
    """`customer_id, item_id, weight, n_orders, last_ordered_at` over non-returned lines to T
    (`weight`: summed quantity); `as_of=None` reads every line of the view (already cut)."""
    end = _NO_CUTOFF if as_of is None else sql.cutoff_params(as_date(as_of))["end"]
    return con.execute(sql.interactions_sql(), {"end": end}).df()


def interactions_of_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """`build_interactions` over all of these in-memory order lines (canonical columns)."""
    return build_interactions(connect_frames(lines), None)
