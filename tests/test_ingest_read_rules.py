"""Files as shops really send them: stray bytes, ragged rows, epoch stamps, placeholder dates."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.ingest import IngestError, ingest
from churnrec.workspace import Workspace

NOW = datetime(2024, 6, 1)


def _ingest(tmp_path: Path, data: bytes, **kwargs):
    src = tmp_path / "orders.csv"
    src.write_bytes(data)
    ws = Workspace.at(tmp_path / "ws")
    return ws, src, ingest(ws, src, now=NOW, **kwargs).tables[C.ORDERS]


# --- encoding ---------------------------------------------------------------------------------
def test_one_stray_byte_quarantines_its_row_not_the_files_encoding(tmp_path):
    text = "customer_id,ordered_at,channel\nJosé,2024-01-01,web\nZoë,2024-01-02,app\n"
    data = text.encode("utf-8") + "Müller,2024-01-03,web\n".encode("latin-1")
    ws, _, t = _ingest(tmp_path, data)
    assert pd.read_parquet(ws.orders_path)[C.CUSTOMER_ID].tolist() == ["José", "Zoë"]
    assert t.quarantined_by_reason == {"bad_encoding": 1}
    assert t.encoding is None  # read as UTF-8
    assert any("not UTF-8" in w and "bad_encoding" in w for w in t.warnings)
    q = pd.read_csv(ws.quarantine_path(C.ORDERS), dtype=str, keep_default_na=False)
    assert q[[C.SOURCE_ROW, C.QUARANTINE_COLUMN]].values.tolist() == [["3", "customer_id"]]


def test_utf8_with_bom_is_read_as_utf8(tmp_path):
    data = "\ufeffcustomer_id,ordered_at\nJosé,2024-01-01\n".encode()
    ws, _, t = _ingest(tmp_path, data)
    assert pd.read_parquet(ws.orders_path)[C.CUSTOMER_ID].tolist() == ["José"]
    assert t.warnings == ["no price column: monetary features will be left out"]


def test_a_file_that_is_not_utf8_at_all_is_read_as_cp1252_and_says_so(tmp_path):
    data = "customer_id,ordered_at,amount\nJosé,2024-01-01,5\nRenée,2024-01-02,€\n".encode("cp1252")
    ws, src, t = _ingest(tmp_path, data)
    assert pd.read_parquet(ws.orders_path)[C.CUSTOMER_ID].tolist() == ["José"]
    assert t.encoding == "cp1252"
    assert f"{src.name} is not UTF-8: read as cp1252" in t.warnings
    q = pd.read_csv(ws.quarantine_path(C.ORDERS), dtype=str, keep_default_na=False)
    assert q["amount"].tolist() == ["€"]  # the bad number, decoded right


# --- ragged rows ------------------------------------------------------------------------------
def test_a_ragged_row_is_quarantined_and_the_rest_is_read(tmp_path):
    data = b"customer_id,ordered_at,amount\na,2024-01-01,5\nb,2024-01-02,5,extra\nc,2024-01-03,7\n"
    ws, _, t = _ingest(tmp_path, data)
    assert (t.rows_read, t.rows_accepted, t.rows_quarantined) == (3, 2, 1)
    assert t.quarantined_by_reason == {"ragged_row": 1}
    q = pd.read_csv(ws.quarantine_path(C.ORDERS), dtype=str, keep_default_na=False)
    assert q[[C.SOURCE_ROW, "raw_line"]].values.tolist() == [["2", "b,2024-01-02,5,extra"]]
    assert sorted(pd.read_parquet(ws.orders_path)[C.CUSTOMER_ID]) == ["a", "c"]


def test_rows_after_a_ragged_row_keep_their_row_numbers(tmp_path):
    data = b"customer_id,ordered_at\na,2024-01-01\nb\nc,bad\n"
    ws, _, _t = _ingest(tmp_path, data)
    q = pd.read_csv(ws.quarantine_path(C.ORDERS), dtype=str, keep_default_na=False)
    assert q[[C.SOURCE_ROW, C.REASON]].values.tolist() == [
        ["2", "ragged_row"],
        ["3", "unparseable_date"],
    ]


# --- dates ------------------------------------------------------------------------------------
@pytest.mark.parametrize("placeholder", ["0001-01-01", "1677-09-21", "1900-01-01", "1989-12-31"])
def test_placeholder_dates_are_implausible(tmp_path, placeholder):
    data = f"customer_id,ordered_at\na,{placeholder}\nb,2024-01-01\n".encode()
    ws, _, t = _ingest(tmp_path, data)
    assert t.quarantined_by_reason == {"implausible_date": 1}
    assert pd.read_parquet(ws.orders_path)[C.CUSTOMER_ID].tolist() == ["b"]


def test_min_date_flag_moves_the_floor(tmp_path):
    src = tmp_path / "o.csv"
    src.write_text("customer_id,ordered_at\na,2009-12-31\nb,2010-01-01\n")
    result = CliRunner().invoke(
        app, ["ingest", str(src), "--workspace", str(tmp_path / "ws"), "--min-date", "2010-01-01"]
    )
    assert result.exit_code == 0, result.output
    assert "implausible_date" in result.stdout
    config = tmp_path / "c.yaml"
    config.write_text("min_date: 1980-01-01\n")
    src.write_text("customer_id,ordered_at\na,1985-06-01\n")
    t = ingest(Workspace.at(tmp_path / "ws3"), src, config=config, now=NOW).tables[C.ORDERS]
    assert t.rows_accepted == 1


@pytest.mark.parametrize(
    ("stamps", "expected"),
    [
        (["1704067200", "1704153600"], ["2024-01-01", "2024-01-02"]),  # seconds
        (["1704067200000", "1704153600000"], ["2024-01-01", "2024-01-02"]),  # milliseconds
    ],
)
def test_epoch_timestamps_are_read_by_magnitude(tmp_path, stamps, expected):
    data = "customer_id,ordered_at\n" + "".join(f"c{i},{s}\n" for i, s in enumerate(stamps))
    ws, _, t = _ingest(tmp_path, data.encode())
    assert t.rows_quarantined == 0
    got = pd.read_parquet(ws.orders_path)[C.ORDERED_AT].dt.strftime("%Y-%m-%d").tolist()
    assert got == expected


def test_epoch_integers_in_parquet(tmp_path):
    src = tmp_path / "o.parquet"
    pd.DataFrame({"customer_id": ["a"], "ordered_at": [1704067200]}).to_parquet(src)
    ws = Workspace.at(tmp_path / "ws")
    ingest(ws, src, now=NOW)
    assert pd.read_parquet(ws.orders_path)[C.ORDERED_AT].tolist() == [pd.Timestamp("2024-01-01")]


# --- nothing accepted -------------------------------------------------------------------------
def test_every_row_rejected_is_a_failure_with_exit_2(tmp_path):
    src = tmp_path / "o.csv"
    src.write_text("customer_id,ordered_at\na,31.02.2024x\nb,soon\n")
    ws = tmp_path / "ws"
    result = CliRunner().invoke(app, ["ingest", str(src), "--workspace", str(ws)])
    assert result.exit_code == 2
    assert "all 2 rows were rejected" in result.output and "unparseable_date: 2" in result.output
    assert not (ws / "data" / "orders.parquet").exists()  # nothing stored
    assert not (ws / "data" / "manifest.json").exists()
    q = pd.read_csv(ws / "data" / "quarantine" / "orders.csv", dtype=str)
    assert len(q) == 2  # but the user can see why


def test_every_row_rejected_leaves_stored_tables_alone(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    good = tmp_path / "good.csv"
    good.write_text("customer_id,ordered_at\na,2024-01-01\n")
    ingest(ws, good, now=NOW)
    before = ws.manifest_path.read_text()
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,ordered_at\nb,not-a-date\n")  # (no customer: a guest line)
    with pytest.raises(IngestError, match="nothing was accepted"):
        ingest(ws, bad, now=NOW)
    assert ws.manifest_path.read_text() == before
    assert len(pd.read_parquet(ws.orders_path)) == 1
