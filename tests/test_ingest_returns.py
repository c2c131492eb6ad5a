"""A negative line is a return, never a purchase; shops whose returns are never negative say so."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.features.db import connect
from churnrec.features.snapshot import build_customer_snapshot
from churnrec.ingest import ingest
from churnrec.workspace import Workspace

NOW = datetime(2024, 6, 1)
ORDERS = """order_id,customer_id,ordered_at,item_id,quantity,amount,status
o1,a,2024-01-10,i1,1,50,paid
o2,a,2024-03-01,i2,1,30,
o3,a,2024-04-20,i2,-1,-10,
o4,b,2024-02-01,i1,2,-20,paid
o5,b,2024-01-05,i3,1,40,paid
"""


def _write(tmp_path: Path) -> Path:
    src = tmp_path / "orders.csv"
    src.write_text(ORDERS)
    return src


def test_negative_quantity_or_amount_without_return_status_is_a_return(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    t = ingest(ws, _write(tmp_path), now=NOW).tables[C.ORDERS]
    assert t.rows_quarantined == 0
    got = pd.read_parquet(ws.orders_path).set_index(C.ORDER_ID).sort_index()
    assert got[C.IS_RETURN].tolist() == [False, False, True, True, False]


def test_recency_counts_the_last_real_purchase_not_the_return(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    ingest(ws, _write(tmp_path), now=NOW)
    snap = build_customer_snapshot(connect(ws), date(2024, 5, 1)).set_index(C.CUSTOMER_ID)
    # a's last line (2024-04-20) is -10: a return; the last purchase is 2024-03-01
    assert snap.loc["a", "recency_days"] == (date(2024, 5, 1) - date(2024, 3, 1)).days
    assert snap.loc["a", "frequency"] == 2
    assert snap.loc["a", "monetary_total"] == 80.0
    assert snap.loc["b", "recency_days"] == (date(2024, 5, 1) - date(2024, 1, 5)).days
    assert snap.loc["b", "frequency"] == 1


def test_shop_without_negative_returns_quarantines_negative_values(tmp_path):
    ws = tmp_path / "ws"
    result = CliRunner().invoke(
        app,
        ["ingest", str(_write(tmp_path)), "--workspace", str(ws), "--json"]
        + ["--no-negative-returns"],
    )
    assert result.exit_code == 0, result.output
    t = json.loads(result.stdout)["tables"]["orders"]
    assert t["quarantined_by_reason"] == {"negative_amount": 1, "negative_quantity": 1}
    q = pd.read_csv(Path(t["quarantine_file"]), dtype=str, keep_default_na=False)
    assert q[[C.SOURCE_ROW, C.QUARANTINE_COLUMN]].values.tolist() == [
        ["3", "quantity"],
        ["4", "amount"],
    ]


def test_negative_returns_config_key(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("negative_returns: false\n")
    ws = Workspace.at(tmp_path / "ws")
    t = ingest(ws, _write(tmp_path), config=config, now=NOW).tables[C.ORDERS]
    assert t.rows_quarantined == 2
    # a negative line whose status says "returned" is fine either way
    src = tmp_path / "r.csv"
    src.write_text("customer_id,ordered_at,amount,status\nz,2024-01-01,-5,Returned\n")
    t = ingest(ws, src, config=config, now=NOW).tables[C.ORDERS]
    assert (t.rows_accepted, t.rows_quarantined) == (1, 0)
