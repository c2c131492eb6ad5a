"""`churnrec forget` in small pieces: the id file, tombstones at ingest, the events log swap,
the basket log and JSON scrubs (tiny data with known answers, no training)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.ids import id_key, pseudonym
from churnrec.ingest import ingest
from churnrec.ingest.manifest import table_run_id
from churnrec.ingest.tombstones import read_tombstones
from churnrec.serving.events import LiveEvent, LiveEvents
from churnrec.store.erasure import (
    ErasureInputError,
    forget,
    read_id_file,
    scrub_csv,
    scrub_json_value,
)
from churnrec.store.erasure_models import drop_baskets, scrub_artifact_files
from churnrec.workspace import Workspace

GONE = "cust-7"
KEPT = "cust-8"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _orders(folder: Path) -> Path:
    return _write(
        folder / "orders.csv",
        "customer_id,order_id,ordered_at,item_id,amount\n"
        f"{GONE},o1,2025-01-02,i1,10\n"
        f"{GONE},o2,2025-02-03,i2,12\n"
        f"{GONE},o3,not a date,i2,12\n"  # quarantined with the raw id
        f"{KEPT},o4,2025-01-05,i1,9\n",
    )


def _customers(folder: Path, consent: str, signed_up_at: str = "2024-03-01 10:00:00") -> Path:
    return _write(
        folder / "customers.csv",
        "customer_id,marketing_consent,signed_up_at\n"
        f"{GONE},{consent},{signed_up_at}\n{KEPT},yes,2024-01-01\n",
    )


def _ids(ws: Workspace, kind: str) -> set[str]:
    return set(pd.read_parquet(ws.table_path(kind))[C.CUSTOMER_ID])


def test_id_file_takes_a_customer_id_column_or_one_id_per_line_and_names_a_blank_row(
    tmp_path: Path,
) -> None:
    assert read_id_file(_write(tmp_path / "a.csv", "email,customer_id\nx,C1\ny, C2 \n\n")) == [
        "C1",
        "C2",
    ]
    assert read_id_file(_write(tmp_path / "b.csv", "C1\nC2\n")) == ["C1", "C2"]
    with pytest.raises(ErasureInputError, match=r"c\.csv, column customer_id, row 2: blank id"):
        read_id_file(_write(tmp_path / "c.csv", "customer_id\nC1\n  \n"))
    with pytest.raises(ErasureInputError, match=r"d\.csv: no 'customer_id' column"):
        read_id_file(_write(tmp_path / "d.csv", "a,b\n1,2\n"))
    result = CliRunner().invoke(app, ["forget", "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 2 and "CUSTOMER_ID" in result.output


def test_an_old_export_does_not_bring_an_erased_customer_back_but_a_new_consent_does(
    tmp_path: Path,
) -> None:
    ws = Workspace.at(tmp_path / "ws")
    export = tmp_path / "export"
    ingest(ws, _orders(export), customers=_customers(export, "yes"))
    assert GONE in _ids(ws, C.ORDERS)
    assert GONE in ws.quarantine_path(C.ORDERS).read_text()
    run_id = table_run_id(ws.orders_path)

    result = CliRunner().invoke(app, ["forget", GONE, "--workspace", str(ws.root), "--json"])
    assert result.exit_code == 0, result.output
    assert GONE not in result.output
    done = json.loads(result.output)
    assert done["tombstones_added"] == 1 and done["rows_removed"] == 4  # 2 orders, 1 q, 1 cust
    assert GONE not in ws.quarantine_path(C.ORDERS).read_text()
    assert table_run_id(ws.orders_path) == run_id  # the manifest still matches the table
    stones = read_tombstones(ws)
    assert list(stones) == [pseudonym(GONE, id_key(ws.data_dir))]
    assert GONE not in (ws.data_dir / "tombstones.json").read_text()

    # re-ingest of the old export: its consent yes is the old one (signed up before the erasure)
    summary = ingest(ws, _orders(export), customers=_customers(export, "yes"))
    assert GONE not in _ids(ws, C.ORDERS) | _ids(ws, C.CUSTOMERS)
    assert GONE not in ws.quarantine_path(C.ORDERS).read_text()
    assert KEPT in _ids(ws, C.ORDERS)
    assert any("erased customers skipped" in w for w in summary.tables[C.ORDERS].warnings)
    assert summary.tables[C.ORDERS].rows_read == 1  # KEPT's line; GONE's 3 were skipped

    # an export without consent at all: still skipped
    ingest(ws, _orders(export))
    assert GONE not in _ids(ws, C.ORDERS)

    # the customer signs up again and says yes: all their rows of that ingest are kept
    again = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    ingest(ws, _orders(export), customers=_customers(export, "no", again))
    assert GONE not in _ids(ws, C.ORDERS)  # signed up again, but said no
    ingest(ws, _orders(export), customers=_customers(export, "Opt-In", again))
    assert GONE in _ids(ws, C.ORDERS) and GONE in _ids(ws, C.CUSTOMERS)
    assert read_tombstones(ws) == {}


def test_a_running_events_log_follows_the_rewritten_file(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path)
    live = LiveEvents(ws, sync="always")
    at = datetime(2030, 1, 1, 10)
    for cid in (GONE, KEPT):
        live.record(LiveEvent(customer_id=cid, item_id="i1", event_type="purchase", occurred_at=at))
    assert live.history(GONE, 0)[0]
    forget(ws, [GONE])
    assert live.history(GONE, 0) == ([], [], [])
    assert live.history(KEPT, 0)[0]
    live.record(LiveEvent(customer_id=KEPT, item_id="i2", event_type="add_to_cart", occurred_at=at))
    live.close()
    text = live.path.read_text()
    assert GONE not in text and text.count(KEPT) == 2 and text.startswith("customer_id,")
    assert LiveEvents(ws).history(KEPT, 0)[1] == ["i2"]


def test_dropping_a_customer_from_a_basket_log_keeps_everyone_elses_orders() -> None:
    # users 0, 1, 2 with orders [o0], [o1, o2], [o3]; order lines: o0:{5}, o1:{6,7}, o2:{8}, o3:{9}
    arrays = {
        "order_ptr": np.array([0, 1, 3, 4]),
        "order_day": np.array([1.0, 2.0, 3.0, 4.0]),
        "line_ptr": np.array([0, 1, 3, 4, 5]),
        "line_item": np.array([5, 6, 7, 8, 9], dtype=np.int32),
        "category": np.array([0, 1]),
    }
    out = drop_baskets(arrays, np.array([1]))
    assert out["order_ptr"].tolist() == [0, 1, 1, 2]
    assert out["order_day"].tolist() == [1.0, 4.0]
    assert out["line_ptr"].tolist() == [0, 1, 2]
    assert out["line_item"].tolist() == [5, 9]
    assert out["category"] is arrays["category"]


def test_json_scrub_drops_keys_and_records_but_no_other_text() -> None:
    ids = frozenset({GONE, "12"})
    gaps = {"gaps": {GONE: 30.0, KEPT: 12.0}, "rule": "median_gap", "num_feature": "12"}
    assert scrub_json_value(gaps, ids, keys_only=True) == (
        {"gaps": {KEPT: 12.0}, "rule": "median_gap", "num_feature": "12"},
        1,
    )
    records = [{"customer_id": GONE, "p": 0.1}, {"customer_id": KEPT, "p": 0.2}, GONE, "x"]
    assert scrub_json_value(records, ids) == ([records[1], "x"], 2)
    assert scrub_json_value(records, ids, keys_only=True) == (records, 0)


def test_quarantine_rows_under_shop_column_names_go_by_any_cell_but_meta(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "q.csv",
        "ingest_id,source_row,reason,CustNo,Qty\n"
        "r1,12,bad_date,12,1\n"  # the erased customer "12"
        "r1,13,bad_date,7,12\n"  # a quantity of 12 is no id... but the shop's columns are
        "r1,12,bad_date,7,1\n",  # unknown, so any raw cell counts; source_row 12 does not
    )
    assert scrub_csv(path, frozenset({"12"})) == 2
    assert path.read_text().splitlines()[1:] == ["r1,12,bad_date,7,1"]


def test_a_scrubbed_recommender_and_gap_rule_no_longer_know_the_customer(tmp_path: Path) -> None:
    from churnrec.models.baseline_models import MedianGapRepurchase
    from churnrec.models.recommender import RankerConfig, Recommender

    rows = [
        (cid, f"{cid}-{n}", item, pd.Timestamp("2024-01-01") + pd.Timedelta(days=n))
        for cid, bought in ((GONE, "abc"), (KEPT, "abd"), ("cust-9", "bcd"), ("cust-10", "acd"))
        for n, item in enumerate(bought)
    ]
    lines = pd.DataFrame(rows, columns=[C.CUSTOMER_ID, C.ORDER_ID, C.ITEM_ID, C.ORDERED_AT])
    config = RankerConfig(mode="rule", als_factors=4, als_iterations=3)
    folder = tmp_path / "rec"
    Recommender.fit(lines, None, config, pd.Timestamp("2024-02-01")).save(folder)
    gaps = MedianGapRepurchase({GONE: 30.0, KEPT: 12.0}, 20.0, "median_gap")
    gaps.save(tmp_path / "rec" / "rule")

    changed = scrub_artifact_files(folder, frozenset({GONE}))
    assert {p.name for p in changed} >= {"ids.json", "arrays.npz"}
    for path in folder.rglob("*"):
        assert path.is_dir() or GONE.encode() not in path.read_bytes(), path
    rec = Recommender.load(folder)
    assert not rec.known_customer(GONE) and rec.known_customer(KEPT)
    assert rec.recommend(GONE, k=2)["source"].iloc[0] == "popular"
    row = rec.sources.log.users.get(
        next(i for i in rec.sources.log.users.to_list() if "erased" in i)
    )
    assert not rec.sources.user_factors[row].any()
    assert rec.sources.log.order_ptr[row] == rec.sources.log.order_ptr[row + 1]  # no baskets
    assert MedianGapRepurchase.load(folder / "rule").gaps == {KEPT: 12.0}


def test_a_file_of_only_erased_customers_stores_nothing_and_is_no_failure(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path / "ws")
    export = tmp_path / "export"
    ingest(ws, _orders(export))
    forget(ws, [GONE])
    only_gone = _write(
        export / "gone.csv",
        f"customer_id,ordered_at,amount\n{GONE},2025-03-01,5\n{GONE},bad date,5\n",
    )
    summary = ingest(ws, only_gone)
    assert summary.tables[C.ORDERS].rows_read == 0
    assert GONE not in ws.quarantine_path(C.ORDERS).read_text()
    assert GONE not in _ids(ws, C.ORDERS)


def test_exports_elsewhere_in_the_workspace_lose_the_rows_by_their_customer_id_column(
    tmp_path: Path,
) -> None:
    ws = Workspace.at(tmp_path)
    scores = _write(tmp_path / "scores.csv", f"customer_id,p\n{GONE},0.5\n{KEPT},0.1\n")
    notes = _write(tmp_path / "notes" / "mine.csv", f"who,what\n{GONE},call back\n")
    pd.DataFrame({C.CUSTOMER_ID: [GONE, KEPT], "n": [1, 2]}).to_parquet(tmp_path / "s.parquet")
    done = forget(ws, [GONE])
    assert sorted(done.files_changed) == ["s.parquet", "scores.csv"]
    assert scores.read_text() == f"customer_id,p\n{KEPT},0.1\n"
    assert GONE in notes.read_text()  # not churnrec's: no customer_id column, left alone
    assert pd.read_parquet(tmp_path / "s.parquet")[C.CUSTOMER_ID].tolist() == [KEPT]
