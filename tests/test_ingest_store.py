"""Idempotent re-ingest, last-write-wins for customers, quarantine rewritten per run, manifest."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from churnrec import columns as C
from churnrec.ingest import ingest
from churnrec.ingest.keys import content_ids
from churnrec.workspace import Workspace

NOW = datetime(2024, 6, 1)


def test_reingesting_the_same_file_adds_nothing(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    src = tmp_path / "o.csv"
    src.write_text(
        "customer_id,ordered_at,amount,item_id\na,2024-01-01,10,i1\nb,2024-01-02,5,\nb,bad,5,\n"
    )
    first = ingest(ws, src, now=NOW).tables[C.ORDERS]
    table_before = pd.read_parquet(ws.orders_path)
    second = ingest(ws, src, now=NOW).tables[C.ORDERS]
    assert (first.rows_new, first.rows_already_present) == (2, 0)
    assert (second.rows_new, second.rows_already_present, second.rows_quarantined) == (0, 2, 1)
    pd.testing.assert_frame_equal(pd.read_parquet(ws.orders_path), table_before)

    # an overlapping export: one old line written differently, one new line
    src.write_text(
        "customer_id,ordered_at,amount,item_id\na,2024-01-01T00:00:00,10.0,i1\nc,2024-01-03,7,i2\n"
    )
    third = ingest(ws, src, now=NOW).tables[C.ORDERS]
    assert (third.rows_new, third.rows_already_present) == (1, 1)
    assert sorted(pd.read_parquet(ws.orders_path)[C.CUSTOMER_ID]) == ["a", "b", "c"]
    manifest = ws.read_manifest()["tables"][C.ORDERS]
    assert manifest["rows"] == 3 and manifest["sources"] == [str(src)]
    assert (manifest["min_ordered_at"], manifest["max_ordered_at"]) == (
        "2024-01-01T00:00:00",
        "2024-01-03T00:00:00",
    )
    assert manifest["has_item_ids"] is True and manifest["has_monetary"] is True


def test_quarantine_file_is_appended_per_run_with_its_ingest_id(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    src = tmp_path / "o.csv"
    src.write_text("customer_id,ordered_at\na,bad\na,2024-01-01\n")
    first = ingest(ws, src, now=NOW)
    src.write_text("customer_id,ordered_at,channel\nb,,web\nb,1899-12-31,web\na,2024-01-01,web\n")
    second = ingest(ws, src, now=NOW)
    src.write_text("customer_id,ordered_at\na,2024-01-01\n")
    third = ingest(ws, src, now=NOW)
    q = pd.read_csv(ws.quarantine_path(C.ORDERS), dtype=str, keep_default_na=False)
    # every rejected row of every run is still there, stamped with its run
    assert q[C.INGEST_ID].tolist() == [first.ingest_id, second.ingest_id, second.ingest_id]
    assert q[C.REASON].tolist() == ["unparseable_date", "missing_date", "implausible_date"]
    assert q[C.INGESTED_AT].str.match(r"\d{4}-\d\d-\d\dT").all()
    assert third.ingest_id not in set(q[C.INGEST_ID])
    # counts add up per run
    for run in (first, second):
        t = run.tables[C.ORDERS]
        assert (q[C.INGEST_ID] == run.ingest_id).sum() == t.rows_quarantined
        assert t.rows_read == t.rows_accepted + t.rows_quarantined


def test_customers_last_write_wins_across_runs(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    src = tmp_path / "c.csv"
    src.write_text("customer_id,region\nc1,north\nc2,south\n")
    ingest(ws, None, customers=src, now=NOW)
    src.write_text("customer_id,region\nc2,west\nc3,east\n")
    t = ingest(ws, None, customers=src, now=NOW).tables[C.CUSTOMERS]
    assert (t.rows_new, t.rows_already_present) == (1, 1)
    got = pd.read_parquet(ws.table_path(C.CUSTOMERS)).set_index(C.CUSTOMER_ID)[C.REGION]
    assert got.sort_index().to_dict() == {"c1": "north", "c2": "west", "c3": "east"}
    # the orders entry of another run is kept in the manifest next to customers
    assert set(ws.read_manifest()["tables"]) == {C.CUSTOMERS}


def test_line_ids_are_stable_and_number_repeated_content():
    frame = pd.DataFrame({"a": ["x", "x", "y"], "b": [1.0, 1.0, 2.0]})
    ids = content_ids(frame, ("a", "b"))
    assert ids[0] != ids[1] and len(set(ids)) == 3
    again = content_ids(frame.iloc[[2, 0]].reset_index(drop=True), ("a", "b"))
    assert again.tolist() == [ids[2], ids[0]]
