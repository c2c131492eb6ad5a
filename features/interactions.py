"""Customer x item interaction weights, the recommender's training input: built only here.

The feature pipeline builds them at a cut-off T over the workspace's orders; training builds
them from the order lines it already holds in memory (`interactions_of_lines`) with the same
SQL over `connect_frames`, so there is one definition of an interaction.
"""

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
    """`customer_id, item_id, weight, n_orders, last_ordered_at` over non-returned lines to T.

    `weight` is the summed quantity (missing quantity counts 1); `n_orders` counts distinct
    orders with the item (an absent order id is `customer_id|ordered_at`); lines without an
    item id are skipped. `as_of=None` reads every line of the view (lines already cut).
    """
    end = _NO_CUTOFF if as_of is None else sql.cutoff_params(as_date(as_of))["end"]
    return con.execute(sql.interactions_sql(), {"end": end}).df()


def interactions_of_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """`build_interactions` over in-memory order lines (canonical columns), all of them.

    Raises ValueError naming a required column the lines lack.
    """
    return build_interactions(connect_frames(lines), None)
