"""Guest lines (no customer id): kept apart for item demand, out of everything per customer."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from churnrec import columns as C
from churnrec.ingest import ingest
from churnrec.workspace import Workspace

NOW = datetime(2025, 3, 1)
ORDERS = """customer_id,order_id,ordered_at,item_id,quantity,unit_price
c1,o1,2025-01-06,A,1,5
,g1,2025-01-07,A,2,5
,,2025-01-08,B,1,3
,g2,not-a-date,B,1,3
"""


def _ingested(tmp_path):
    src = tmp_path / "orders.csv"
    src.write_text(ORDERS)
    ws = Workspace.at(tmp_path / "ws")
    return ws, src, ingest(ws, src, now=NOW)


def test_guest_lines_are_counted_apart_and_stored_beside_the_orders(tmp_path) -> None:
    ws, src, summary = _ingested(tmp_path)
    t = summary.tables[C.ORDERS]
    assert (t.rows_read, t.rows_accepted, t.rows_guest, t.rows_quarantined) == (4, 1, 2, 1)
    assert t.quarantined_by_reason == {"unparseable_date": 1}  # a guest with a bad date
    assert any("guest lines" in line for line in summary.lines())
    orders = pd.read_parquet(ws.orders_path)
    assert orders[C.CUSTOMER_ID].tolist() == ["c1"]  # nothing per customer sees a guest
    guests = pd.read_parquet(ws.table_path(C.GUEST_ORDERS))
    assert guests[C.CUSTOMER_ID].isna().all()
    assert sorted(guests[C.ITEM_ID]) == ["A", "B"]
    assert guests[C.ORDER_ID].str.startswith(("g1", "guest|")).all()
    again = ingest(ws, src, now=NOW).tables[C.ORDERS]  # re-ingest stores nothing twice
    assert again.rows_guest == 2
    assert len(pd.read_parquet(ws.table_path(C.GUEST_ORDERS))) == 2


def test_weekly_demand_counts_guest_units(tmp_path) -> None:
    from churnrec.features.db import connect
    from churnrec.features.demand import weekly_sales
    from churnrec.features.snapshot import build_customer_snapshot

    ws, _, _ = _ingested(tmp_path)
    con = connect(ws)
    weekly = weekly_sales(con, through=date(2025, 1, 6)).set_index("item_id")
    assert weekly.loc["A", "units"] == 3.0 and weekly.loc["A", "revenue"] == 15.0
    assert weekly.loc["B", "units"] == 1.0
    snapshot = build_customer_snapshot(con, date(2025, 1, 12))
    assert snapshot[C.CUSTOMER_ID].tolist() == ["c1"]
