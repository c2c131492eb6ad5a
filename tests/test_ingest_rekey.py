"""Re-ingest with a richer (or poorer) column mapping never stores a line twice.

A line's key follows what identifies it (order id, item id, the shop's own line id), so a
mapping that adds `order_id` gives every line a new key; ingesting it as it comes would double
the orders table (a real store export: revenue 2.30M -> 4.59M). It is refused, saying how to
proceed, and the stored table is left as it was.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from churnrec.cli import app

runner = CliRunner()
ROWS = """OrderNo,Customer,Date,Sku,Total
o1,c1,2024-01-03,a,10.0
o1,c1,2024-01-03,b,5.0
o2,c2,2024-01-05,a,10.0
o3,c1,2024-02-01,c,7.5
"""


def _ingest(ws: Path, orders: Path, *mapping: str):
    args = ["ingest", str(orders), "--workspace", str(ws)]
    for m in ("customer_id=Customer", "ordered_at=Date", "amount=Total", *mapping):
        args += ["--column", m]
    return runner.invoke(app, args)


def test_a_richer_mapping_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text(ROWS)
    ws = tmp_path / "ws"
    assert _ingest(ws, orders).exit_code == 0
    stored = pd.read_parquet(ws / "data" / "orders.parquet")
    assert _ingest(ws, orders).exit_code == 0  # the same mapping again: an update, no copy
    assert len(pd.read_parquet(ws / "data" / "orders.parquet")) == len(stored) == 4

    richer = _ingest(ws, orders, "order_id=OrderNo", "item_id=Sku")
    assert richer.exit_code == 2, richer.output
    assert "4 order lines are already stored" in richer.output
    assert "same --column mapping" in richer.output and "fresh workspace" in richer.output
    after = pd.read_parquet(ws / "data" / "orders.parquet")
    assert len(after) == 4 and after["amount"].sum() == stored["amount"].sum() == 32.5


def test_new_lines_under_the_richer_mapping_go_to_a_fresh_workspace(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text(ROWS)
    fresh = tmp_path / "fresh"
    assert _ingest(fresh, orders, "order_id=OrderNo", "item_id=Sku").exit_code == 0
    more = tmp_path / "more.csv"
    more.write_text(ROWS + "o4,c2,2024-03-01,b,5.0\n")
    assert _ingest(fresh, more, "order_id=OrderNo", "item_id=Sku").exit_code == 0
    assert len(pd.read_parquet(fresh / "data" / "orders.parquet")) == 5
