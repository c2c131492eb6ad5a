"""A later export of the same order lines updates them; nothing is stored twice."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd

from churnrec import columns as C
from churnrec.ingest import ingest
from churnrec.workspace import Workspace

NOW = datetime(2024, 6, 1)
FIRST = """order_id,customer_id,ordered_at,item_id,quantity,amount,status
o1,a,2024-01-10,i1,1,50,paid
o1,a,2024-01-10,i2,2,30,paid
o2,b,2024-02-01,i1,1,50,paid
"""
# o1/i2 was returned, o2's amount corrected, a channel column added, one new line
SECOND = """order_id,customer_id,ordered_at,item_id,quantity,amount,status,channel
o1,a,2024-01-10,i1,1,50,paid,
o1,a,2024-01-10,i2,2,30,returned,
o2,b,2024-02-01,i1,1,45,paid,web
o3,c,2024-03-01,i3,1,20,paid,app
"""


def _run(ws: Workspace, tmp_path: Path, text: str, name: str = "orders.csv"):
    src = tmp_path / name
    src.write_text(text)
    return ingest(ws, src, now=NOW).tables[C.ORDERS]


def _stored(ws: Workspace) -> pd.DataFrame:
    frame = pd.read_parquet(ws.orders_path)
    return frame.sort_values([C.ORDER_ID, C.ITEM_ID]).reset_index(drop=True)


def test_re_export_updates_status_amount_and_new_columns_and_counts_them(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    _run(ws, tmp_path, FIRST)
    t = _run(ws, tmp_path, SECOND)
    assert (t.rows_new, t.rows_updated, t.rows_unchanged) == (1, 2, 1)
    got = _stored(ws)
    assert len(got) == 4  # no duplicates
    assert got[C.STATUS].tolist() == ["paid", "returned", "paid", "paid"]
    assert got[C.IS_RETURN].tolist() == [False, True, False, False]
    assert got[C.AMOUNT].tolist() == [50.0, 30.0, 45.0, 20.0]
    assert got[C.CHANNEL].tolist()[2:] == ["web", "app"]
    assert ws.read_manifest()["tables"][C.ORDERS]["has_channel"] is True
    again = _run(ws, tmp_path, SECOND)
    assert (again.rows_new, again.rows_updated, again.rows_unchanged) == (0, 0, 4)


def test_refresh_without_a_column_keeps_its_stored_values(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    _run(ws, tmp_path, SECOND)
    t = _run(ws, tmp_path, "order_id,customer_id,ordered_at,item_id\no2,b,2024-02-01,i1\n")
    assert (t.rows_new, t.rows_updated, t.rows_unchanged) == (0, 0, 1)
    got = _stored(ws).set_index(C.ORDER_ID)
    assert got.loc["o2", C.AMOUNT] == 45.0 and got.loc["o2", C.CHANNEL] == "web"


def test_same_item_twice_in_an_order_is_two_lines_by_position(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    text = "order_id,customer_id,ordered_at,item_id,amount\no1,a,2024-01-10,i1,5\n"
    text += "o1,a,2024-01-10,i1,7\n"
    assert _run(ws, tmp_path, text).rows_new == 2
    t = _run(ws, tmp_path, text.replace(",7\n", ",8\n"))
    assert (t.rows_new, t.rows_updated, t.rows_unchanged) == (0, 1, 1)
    assert sorted(_stored(ws)[C.AMOUNT]) == [5.0, 8.0]


def test_shop_line_id_is_the_key_when_given(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    head = "order_id,line,customer_id,ordered_at,item_id,amount\n"
    first = head + "o1,1,a,2024-01-10,i1,5\no1,2,a,2024-01-10,i2,7\n"
    src = tmp_path / "o.csv"
    src.write_text(first)
    ingest(ws, src, column_map={C.SHOP_LINE_ID: "line"}, now=NOW)
    # the export lists the lines in another order and corrects line 2's item
    src.write_text(head + "o1,2,a,2024-01-10,i9,7\no1,1,a,2024-01-10,i1,5\n")
    t = ingest(ws, src, column_map={C.SHOP_LINE_ID: "line"}, now=NOW).tables[C.ORDERS]
    assert (t.rows_new, t.rows_updated, t.rows_unchanged) == (0, 1, 1)
    assert sorted(_stored(ws)[C.ITEM_ID]) == ["i1", "i9"]


def test_orders_stored_by_an_older_version_are_rekeyed_not_duplicated(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    _run(ws, tmp_path, FIRST)
    manifest = ws.read_manifest()
    del manifest["tables"][C.ORDERS]["line_key"]  # as written before order-line keys
    ws.manifest_path.write_text(json.dumps(manifest))
    stored = pd.read_parquet(ws.orders_path)
    stored[C.LINE_ID] = [f"content-hash-{i}" for i in range(len(stored))]
    stored.to_parquet(ws.orders_path)
    t = _run(ws, tmp_path, FIRST)
    assert (t.rows_new, t.rows_unchanged) == (0, 3)
    assert len(pd.read_parquet(ws.orders_path)) == 3
