"""The command end to end: --json output, a shop export that is not ours, the CDNOW samples."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.ingest import ingest_sample
from churnrec.workspace import Workspace

SHOP_EXPORT = """Kundennummer;Bestelldatum;Artikel;Menge;Kanal
00017;31/01/2023;A-1;1;Web
00017;14/02/2023;A-2;2;App
00018;01/03/2023;A-1;1;Web
;02/03/2023;A-3;1;Web
00019;2023-99-99;A-1;1;Web
00019;15/03/2023;A-1;drei;Web
00018;01/03/2023;A-1;1;Web
00020;28/02/2023;A-9;1;Shop
"""


def test_shop_export_not_ours_end_to_end(tmp_path):
    src = tmp_path / "export.csv"
    src.write_text(SHOP_EXPORT)
    ws = tmp_path / "ws"
    result = CliRunner().invoke(
        app,
        [
            "ingest",
            str(src),
            "--workspace",
            str(ws),
            "--json",
            "--column",
            "customer_id=Kundennummer",
            "--column",
            "ordered_at=Bestelldatum",
            "--column",
            "item_id=Artikel",
            "--column",
            "quantity=Menge",
            "--column",
            "channel=Kanal",
        ],
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)  # one JSON object, progress lines went to stderr
    t = report["tables"]["orders"]
    assert report["workspace"] == str(ws.resolve())
    assert (t["rows_read"], t["rows_accepted"], t["rows_new"], t["rows_quarantined"]) == (
        8,
        4,
        4,
        3,
    )
    assert t["rows_guest"] == 1  # no Kundennummer: a guest line, kept for item demand
    assert t["quarantined_by_reason"] == {
        "bad_number": 1,
        "duplicate_line": 1,
        "unparseable_date": 1,
    }
    assert "no price column: monetary features will be left out" in t["warnings"]
    assert t["quarantine_file"] == str(ws.resolve() / "data" / "quarantine" / "orders.csv")

    orders = pd.read_parquet(ws / "data" / "orders.parquet")
    assert orders[C.CUSTOMER_ID].tolist() == ["00017", "00017", "00018", "00020"]
    assert orders[C.ORDERED_AT].dt.strftime("%Y-%m-%d").tolist() == [
        "2023-01-31",
        "2023-02-14",
        "2023-03-01",
        "2023-02-28",
    ]
    assert orders[C.QUANTITY].tolist() == [1.0, 2.0, 1.0, 1.0]
    assert orders[C.AMOUNT].isna().all()
    assert orders[C.CHANNEL].tolist() == ["Web", "App", "Web", "Shop"]
    quarantine = pd.read_csv(ws / "data" / "quarantine" / "orders.csv", dtype=str)
    assert quarantine[C.SOURCE_ROW].tolist() == ["5", "6", "7"]
    assert quarantine["Kundennummer"].fillna("").tolist() == ["00019", "00019", "00018"]
    guests = pd.read_parquet(ws / "data" / "guest_order_lines.parquet")
    assert guests[C.CUSTOMER_ID].isna().all() and len(guests) == 1


def test_human_summary_lists_reasons_and_warnings(tmp_path):
    src = tmp_path / "o.csv"
    src.write_text("customer_id,ordered_at\na,2024-01-01\n,2024-01-02\n")
    result = CliRunner().invoke(app, ["ingest", str(src), "--workspace", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    assert re.search(r"guest lines +1 ", result.stdout)
    assert "warning: no price column" in result.stdout
    assert "[churnrec]" in result.stderr and "[churnrec]" not in result.stdout


def test_cdnow_sample(tmp_path):
    result = CliRunner().invoke(
        app, ["ingest", "--sample", "cdnow", "--workspace", str(tmp_path), "--json"]
    )
    assert result.exit_code == 0, result.stderr
    t = json.loads(result.stdout)["tables"]["orders"]
    assert (t["rows_read"], t["rows_accepted"], t["rows_quarantined"]) == (6919, 6919, 0)
    orders = pd.read_parquet(tmp_path / "data" / "orders.parquet")
    assert orders[C.CUSTOMER_ID].nunique() == 2357
    assert orders[C.LINE_ID].is_unique
    first = orders.iloc[0]
    assert (first[C.CUSTOMER_ID], first[C.ORDERED_AT], first[C.QUANTITY], first[C.AMOUNT]) == (
        "00004",
        pd.Timestamp("1997-01-01"),
        2.0,
        29.33,
    )
    assert first[C.ORDER_ID] == "00004|1997-01-01T00:00:00"
    assert orders[C.ITEM_ID].isna().all()
    assert (orders[C.AMOUNT] == 0).any()  # zero-dollar lines are valid
    manifest = Workspace.at(tmp_path).read_manifest()["tables"]["orders"]
    assert manifest["has_item_ids"] is False and manifest["has_monetary"] is True
    assert (manifest["min_ordered_at"], manifest["max_ordered_at"]) == (
        "1997-01-01T00:00:00",
        "1998-06-30T00:00:00",
    )
    again = ingest_sample(Workspace.at(tmp_path), "cdnow").tables["orders"]
    assert (again.rows_new, again.rows_already_present) == (0, 6919)


@pytest.mark.slow
def test_cdnow_master_sample(tmp_path):
    summary = ingest_sample(Workspace.at(tmp_path), "cdnow-master", now=datetime(2024, 1, 1))
    t = summary.tables["orders"]
    assert (t.rows_read, t.rows_accepted, t.rows_quarantined) == (69659, 69659, 0)
    orders = pd.read_parquet(tmp_path / "data" / "orders.parquet")
    assert len(orders) == 69659 and orders[C.CUSTOMER_ID].nunique() == 23570
    assert orders[C.CUSTOMER_ID].iloc[0] == "00001"


def test_unknown_sample_and_sample_with_file_exit_2(tmp_path):
    result = CliRunner().invoke(app, ["ingest", "--sample", "nope", "--workspace", str(tmp_path)])
    assert result.exit_code == 2 and "unknown sample 'nope'" in result.stderr
    result = CliRunner().invoke(
        app, ["ingest", "x.csv", "--sample", "cdnow", "--workspace", str(tmp_path)]
    )
    assert result.exit_code == 2 and "not both" in result.stderr
