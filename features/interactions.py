"""Customer x item interaction weights up to T, the recommender's training input."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

from churnrec.features import sql
from churnrec.features.snapshot import as_date


def build_interactions(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """`customer_id, item_id, weight, n_orders, last_ordered_at` over non-returned lines to T.

    `weight` is the summed quantity (missing quantity counts 1); lines without an item id are
    skipped.
    """
    params = {"end": sql.cutoff_params(as_date(as_of))["end"]}
    return con.execute(sql.interactions_sql(), params).df()
