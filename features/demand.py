"""Weekly sales series per item (and its category) for demand forecasting, built in DuckDB.
Only full Monday weeks count (a half-observed week is no slump); each series is dense from its
first sale. Returns are left out, guest lines kept; lines without item ids are `ALL_ITEMS`."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pandas as pd

from churnrec import columns as C

WEEK_START = "week_start"
UNITS = "units"
REVENUE = "revenue"
ALL_ITEMS = "all"  # the one series of a shop whose lines carry no item id
NO_CATEGORY = "(no category)"
GUEST_VIEW = "guest_order_lines"  # guest lines, when the workspace has them


class NotEnoughWeeksError(ValueError):
    """The sales history has fewer full weeks than demand forecasting needs."""


def _lines_sql(con: duckdb.DuckDBPyConnection) -> str:
    """Non-returned lines with a date: the shop's customers' and, when stored, its guests'."""
    cols = f"{C.ITEM_ID}, {C.ORDERED_AT}, {C.QUANTITY}, {C.AMOUNT}, {C.IS_RETURN}"
    sources = [f"SELECT {cols} FROM {C.ORDERS}"]
    if con.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_name = ?", [GUEST_VIEW]
    ).fetchall():
        sources.append(f"SELECT {cols} FROM {GUEST_VIEW}")
    union = " UNION ALL ".join(sources)
    return (
        f"SELECT * FROM ({union}) WHERE {C.ORDERED_AT} IS NOT NULL "
        f"AND NOT COALESCE({C.IS_RETURN}, FALSE)"
    )


def last_full_week(con: duckdb.DuckDBPyConnection) -> date:
    """The Monday of the newest week whose Sunday is on or before the last order day."""
    ((last,),) = con.execute(f"SELECT max({C.ORDERED_AT}) FROM ({_lines_sql(con)})").fetchall()
    if last is None:
        raise NotEnoughWeeksError("the orders table has no order lines: no sales to forecast")
    last_day = pd.Timestamp(last).date()
    monday = last_day - timedelta(days=last_day.weekday())
    return monday if last_day.weekday() == 6 else monday - timedelta(days=7)


def weekly_sales(con: duckdb.DuckDBPyConnection, through: date | None = None) -> pd.DataFrame:
    """`item_id, category, week_start, units, revenue` for every full week through the Monday
    `through` (default: `last_full_week`), dense per item; NaN revenue: sales without amounts."""
    end = through or last_full_week(con)
    has_items = con.execute(
        f"SELECT count(*) FROM {C.ORDERS} WHERE {C.ITEM_ID} IS NOT NULL"
    ).fetchall()[0][0]
    item = f"COALESCE({C.ITEM_ID}, '{ALL_ITEMS}')" if not has_items else C.ITEM_ID
    query = f"""
WITH lines AS ({_lines_sql(con)}),
weekly AS (
    SELECT {item} AS item_id, CAST(date_trunc('week', {C.ORDERED_AT}) AS DATE) AS week_start,
           sum(COALESCE({C.QUANTITY}, 1)) AS units, sum({C.AMOUNT}) AS revenue
    FROM lines
    WHERE {item} IS NOT NULL AND CAST(date_trunc('week', {C.ORDERED_AT}) AS DATE) <= $end
    GROUP BY 1, 2
),
spans AS (SELECT item_id, min(week_start) AS first_week FROM weekly GROUP BY 1),
grid AS (
    SELECT s.item_id, CAST(w.week AS DATE) AS week_start
    FROM spans s, LATERAL generate_series(s.first_week, $end, INTERVAL 7 DAY) AS w(week)
),
category AS (
    SELECT {C.ITEM_ID} AS item_id, any_value({C.CATEGORY}) AS category
    FROM {C.ITEMS} GROUP BY 1
)
SELECT g.item_id, COALESCE(c.category, '{NO_CATEGORY}') AS category, g.week_start,
       COALESCE(w.units, 0.0) AS units,
       CASE WHEN w.units IS NULL THEN 0.0 ELSE w.revenue END AS revenue
FROM grid g
LEFT JOIN weekly w USING (item_id, week_start)
LEFT JOIN category c USING (item_id)
ORDER BY g.item_id, g.week_start
"""
    frame = con.execute(query, {"end": end}).df()
    frame[WEEK_START] = pd.to_datetime(frame[WEEK_START])
    return frame.astype({UNITS: "float64", REVENUE: "float64"})
