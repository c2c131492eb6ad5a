"""Row rules: each bad row lands in the quarantine file with file, row, reason and column."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from churnrec import columns as C
from churnrec.ingest import ingest
from churnrec.workspace import Workspace

NOW = datetime(2024, 6, 1)

ORDERS_CSV = """order_id,customer_id,ordered_at,item_id,quantity,unit_price,status
o1,c1,2024-01-05,i1,2,10.00,paid
o2,,2024-01-06,i1,1,10.00,paid
o3,c2,2024-13-45,i2,1,5,paid
o4,c2,2030-01-01,i2,1,5,paid
o5,c3,2024-02-01,i3,two,5,paid
o6,c3,2024-02-02,i3,1,abc,paid
o7,c3,2024-02-03,i3,1,-5,paid
o8,c3,2024-02-04,i3,1,-5,Returned
o1,c1,2024-01-05,i1,2,10.00,paid
o9,c4,,i1,1,3,paid
o10,007,2024-03-01,i1,,3,
"""

EXPECTED_QUARANTINE = [  # (source_row, reason, column); row 2 has no customer: a guest line
    (3, "unparseable_date", "ordered_at"),
    (4, "future_date", "ordered_at"),
    (5, "bad_number", "quantity"),
    (6, "bad_number", "unit_price"),
    (9, "duplicate_line", ""),
    (10, "missing_date", "ordered_at"),
]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def orders_run(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    src = _write(tmp_path / "orders.csv", ORDERS_CSV)
    return ws, src, ingest(ws, src, now=NOW)


def test_each_bad_row_is_quarantined_with_its_reason(orders_run):
    ws, src, _ = orders_run
    q = pd.read_csv(ws.quarantine_path(C.ORDERS), dtype=str, keep_default_na=False)
    got = [
        (int(r), reason, col) for r, reason, col in zip(q[C.SOURCE_ROW], q[C.REASON], q["column"])
    ]
    assert got == EXPECTED_QUARANTINE
    assert set(q[C.SOURCE_FILE]) == {str(src)}
    # raw values are kept as they were in the file
    assert q.loc[q[C.REASON] == "bad_number", "quantity"].tolist() == ["two", "1"]
    assert q.loc[q[C.REASON] == "unparseable_date", "ordered_at"].tolist() == ["2024-13-45"]


def test_counts_add_up_and_per_reason(orders_run):
    _, _, summary = orders_run
    t = summary.tables[C.ORDERS]
    assert (t.rows_read, t.rows_accepted, t.rows_guest, t.rows_quarantined) == (11, 4, 1, 6)
    assert t.rows_read == t.rows_accepted + t.rows_guest + t.rows_quarantined
    assert (t.rows_new, t.rows_already_present) == (4, 0)
    assert t.quarantined_by_reason == {
        "bad_number": 2,
        "duplicate_line": 1,
        "future_date": 1,
        "missing_date": 1,
        "unparseable_date": 1,
    }


def test_accepted_rows_are_canonical(orders_run):
    ws, _, _ = orders_run
    got = pd.read_parquet(ws.orders_path).sort_values(C.ORDER_ID).reset_index(drop=True)
    assert got[C.ORDER_ID].tolist() == ["o1", "o10", "o7", "o8"]
    assert got[C.CUSTOMER_ID].tolist() == ["c1", "007", "c3", "c3"]  # ids stay strings
    assert got[C.AMOUNT].tolist() == [20.0, 3.0, -5.0, -5.0]  # unit_price * quantity
    assert got[C.QUANTITY].tolist() == [2.0, 1.0, 1.0, 1.0]  # blank quantity -> 1
    assert got[C.STATUS].tolist()[3] == "returned"
    # o7 is negative with status "paid": a return, never a purchase
    assert got[C.IS_RETURN].tolist() == [False, False, True, True]
    assert got[C.ORDERED_AT].tolist() == [
        pd.Timestamp("2024-01-05"),
        pd.Timestamp("2024-03-01"),
        pd.Timestamp("2024-02-03"),
        pd.Timestamp("2024-02-04"),
    ]
    assert got[C.LINE_ID].str.len().tolist() == [32, 32, 32, 32]
    assert str(got[C.ORDERED_AT].dtype) == "datetime64[us]"


def test_amount_wins_over_unit_price_and_fills_from_it(tmp_path):
    ws = Workspace.at(tmp_path)
    src = _write(
        tmp_path / "o.csv",
        "customer_id,ordered_at,quantity,unit_price,amount\n"
        "a,2024-01-01,3,2,5\n"
        "a,2024-01-02,3,2,\n"
        "b,2024-01-02,1,,-1\n",
    )
    summary = ingest(ws, src, now=NOW)
    got = pd.read_parquet(ws.orders_path)
    assert got[C.AMOUNT].tolist() == [5.0, 6.0, -1.0]
    assert got[C.IS_RETURN].tolist() == [False, False, True]  # negative amount: a return
    assert summary.tables[C.ORDERS].quarantined_by_reason == {}
    # no order_id column: one order per customer and timestamp
    assert got[C.ORDER_ID].tolist() == [
        "a|2024-01-01T00:00:00",
        "a|2024-01-02T00:00:00",
        "b|2024-01-02T00:00:00",
    ]


def test_missing_price_column_leaves_amount_null_and_warns(tmp_path):
    ws = Workspace.at(tmp_path)
    src = _write(tmp_path / "o.csv", "customer_id,ordered_at\na,2024-01-01\nb,2024-01-02\n")
    summary = ingest(ws, src, now=NOW)
    assert pd.read_parquet(ws.orders_path)[C.AMOUNT].isna().all()
    assert (
        "no price column: monetary features will be left out" in summary.tables[C.ORDERS].warnings
    )
    assert ws.read_manifest()["tables"][C.ORDERS]["has_monetary"] is False


def test_customers_rules(tmp_path):
    ws = Workspace.at(tmp_path)
    src = _write(
        tmp_path / "c.csv",
        "customer_id,signed_up_at,age,marketing_consent,region\n"
        "c1,2023-01-01,30,Yes,north\n"
        "c2,2023-02-01,forty,no,south\n"
        "c3,2023-03-01,25,maybe,south\n"
        ",2023-03-01,25,y,south\n"
        "c4,,,,\n"
        "c5,2023-05-01,50,0,east\n"
        "c5,2023-05-02,51,1,east\n",
    )
    summary = ingest(ws, None, customers=src, now=NOW)
    t = summary.tables[C.CUSTOMERS]
    assert t.quarantined_by_reason == {
        "bad_number": 1,
        "duplicate_id": 1,
        "missing_customer_id": 1,
    }
    assert t.cells_by_reason == {"bad_consent": 1}  # c3 "maybe": kept, consent stored as no
    got = pd.read_parquet(ws.table_path(C.CUSTOMERS)).set_index(C.CUSTOMER_ID)
    # c2's row is quarantined (age "forty") but its no is kept: an id-only row with no
    assert got.index.tolist() == ["c1", "c3", "c4", "c5", "c2"]
    assert got.loc["c2", C.MARKETING_CONSENT] == False
    got = got.drop(index="c2")
    consent = got[C.MARKETING_CONSENT]
    assert consent.isna().tolist() == [False, False, True, False]  # blank = not given
    # c5 said 0 then 1: consent is decided from every row, and a no wins (issue 19)
    assert consent.dropna().astype(bool).tolist() == [True, False, False]
    assert got.loc["c5", C.AGE] == 51.0  # the last row of an id wins for other columns
    assert pd.isna(got.loc["c4", C.SIGNED_UP_AT])


def test_items_and_events_rules(tmp_path):
    ws = Workspace.at(tmp_path)
    items = _write(
        tmp_path / "i.csv", "item_id,category,price\ni1,books,9.5\n,books,1\ni2,toys,-3\n"
    )
    orders = _write(tmp_path / "o.csv", "customer_id,ordered_at\na,2024-01-01\n")
    events = _write(
        tmp_path / "e.csv",
        "customer_id,occurred_at,event_type,item_id\n"
        "a,2024-01-01 10:00,View,i1\n"
        "a,2024-01-01 10:01,,i1\n"
        "a,2024-01-01 10:02,Add_To_Cart,i1\n",
    )
    summary = ingest(ws, orders, items=items, events=events, now=NOW)
    assert summary.tables[C.ITEMS].quarantined_by_reason == {"missing_id": 1, "negative_price": 1}
    assert summary.tables[C.EVENTS].quarantined_by_reason == {"missing_event_type": 1}
    ev = pd.read_parquet(ws.table_path(C.EVENTS))
    assert ev[C.EVENT_TYPE].tolist() == ["view", "add_to_cart"]
    assert pd.read_parquet(ws.table_path(C.ITEMS))[C.PRICE].tolist() == [9.5]
