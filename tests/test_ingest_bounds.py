"""Bounded input (issue 19, item 4): caps with clear messages, junk cells quarantined.

A gzip bomb, a 2^62 quantity, 10 MB cells, NUL bytes and ids the API can never look up were
stored silently (or filled memory); a Parquet id column with bytes that are not UTF-8
crashed with a traceback; mixed time zones were read without a word.
"""

from __future__ import annotations

import gzip
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.ingest import IngestError, ingest
from churnrec.workspace import Workspace

NOW = datetime(2024, 6, 1)


def _orders(ws: Workspace, tmp_path: Path, text: str, **settings):
    src = tmp_path / "orders.csv"
    src.write_text(text, encoding="utf-8")
    return ingest(ws, src, now=NOW, **settings).tables[C.ORDERS]


def _bomb(path: Path, rows: int) -> Path:
    """A small gzip of many valid rows (compresses about 1000:1)."""
    block = b"a,2024-01-01\n" * 100_000
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write(b"customer_id,ordered_at\n")
        for _ in range(rows // 100_000):
            fh.write(block)
    return path


def test_a_gzip_bomb_is_refused_at_the_cap_before_anything_is_parsed(tmp_path):
    bomb = _bomb(tmp_path / "orders.csv.gz", 2_000_000)  # ~26 MB of text, ~60 kB on disk
    ws = tmp_path / "ws"
    start = time.perf_counter()
    result = CliRunner().invoke(
        app, ["ingest", str(bomb), "--workspace", str(ws), "--max-input-bytes", "1000000"]
    )
    assert result.exit_code == 2, result.output
    assert str(bomb) in result.output and "--max-input-bytes" in result.output
    assert "decompressed size" in result.output
    assert time.perf_counter() - start < 20
    assert not Workspace.at(ws).orders_path.exists()


def test_the_row_cap_names_the_file_and_its_setting(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    text = "customer_id,ordered_at\n" + "".join(f"c{i},2024-01-01\n" for i in range(5))
    with pytest.raises(IngestError, match=r"orders\.csv: its row count \(5\).*--max-rows"):
        _orders(ws, tmp_path, text, max_rows=4)
    gz = _bomb(tmp_path / "big.csv.gz", 200_000)
    with pytest.raises(IngestError, match=r"big\.csv\.gz: its row count .*--max-rows"):
        ingest(ws, gz, now=NOW, max_rows=1000)
    config = tmp_path / "ingest.yaml"
    config.write_text("max_rows: 4\n")
    src = tmp_path / "orders.csv"
    src.write_text(text)
    with pytest.raises(IngestError, match="max_rows"):
        ingest(ws, src, config=config, now=NOW)
    assert _orders(ws, tmp_path, text, max_rows=5).rows_accepted == 5


def test_a_cap_that_is_not_a_positive_number_is_refused(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    with pytest.raises(IngestError, match="--max-cell-chars 'lots'"):
        _orders(ws, tmp_path, "customer_id,ordered_at\na,2024-01-01\n", max_cell_chars="lots")


def test_ids_longer_than_the_apis_256_characters_are_quarantined(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    ok, long = "c" * 256, "c" * 257
    t = _orders(
        ws,
        tmp_path,
        f"customer_id,item_id,ordered_at\n{ok},i1,2024-01-01\n{long},i1,2024-01-01\n"
        f"b,{'i' * 300},2024-01-01\n",
    )
    assert t.quarantined_by_reason == {"id_too_long": 2}
    assert pd.read_parquet(ws.orders_path)[C.CUSTOMER_ID].tolist() == [ok]
    q = pd.read_csv(ws.quarantine_path(C.ORDERS))
    assert q["column"].tolist() == ["customer_id", "item_id"]


def test_huge_cells_and_nul_bytes_are_quarantined_and_cut_in_the_quarantine_file(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    huge = "x" * 10_000_000
    t = _orders(
        ws,
        tmp_path,
        f"customer_id,ordered_at,channel\na,2024-01-01,web\nb,2024-01-01,{huge}\n"
        "c,2024-01-01,we\x00b\nd\x00,2024-01-01,web\n",
    )
    assert t.quarantined_by_reason == {"cell_too_large": 1, "nul_byte": 2}
    stored = pd.read_parquet(ws.orders_path)
    assert stored[C.CUSTOMER_ID].tolist() == ["a"]
    assert ws.quarantine_path(C.ORDERS).stat().st_size < 100_000  # the 10 MB cell is cut
    t = _orders(ws, tmp_path, f"customer_id,ordered_at\na,2024-01-01\nb,2024-01-01,{huge}\n")
    assert t.quarantined_by_reason == {"ragged_row": 1}
    assert ws.quarantine_path(C.ORDERS).stat().st_size < 100_000  # a ragged line is cut too
    q = pd.read_csv(ws.quarantine_path(C.ORDERS), keep_default_na=False)
    assert "\x00" not in "".join(q["channel"]) + "".join(q["customer_id"])
    t = _orders(ws, tmp_path, f"customer_id,ordered_at,channel\nb,2024-01-01,{'y' * 99}\n")
    assert t.rows_accepted == 1
    with pytest.raises(IngestError, match="all 1 rows were rejected"):
        _orders(ws, tmp_path, f"customer_id,ordered_at\n{'b' * 99},2024-01-01\n", max_cell_chars=50)


def test_implausible_quantities_and_prices_are_quarantined(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    t = _orders(
        ws,
        tmp_path,
        "customer_id,ordered_at,quantity,unit_price\na,2024-01-01,2,9.99\n"
        f"b,2024-01-01,{2**62},9.99\nc,2024-01-01,1,1e15\nd,2024-01-01,-3000000,1\n",
    )
    assert t.quarantined_by_reason == {"implausible_price": 1, "implausible_quantity": 2}
    assert pd.read_parquet(ws.orders_path)[C.CUSTOMER_ID].tolist() == ["a"]
    items = tmp_path / "items.csv"
    items.write_text("item_id,price\ni1,5\ni2,1e13\n")
    ti = ingest(ws, None, items=items, now=NOW).tables[C.ITEMS]
    assert ti.quarantined_by_reason == {"implausible_price": 1}
    t = _orders(
        ws, tmp_path, "customer_id,ordered_at,quantity\nb,2024-01-01,5000000\n", max_quantity=1e7
    )
    assert t.rows_accepted == 1


def _parquet_with_bad_utf8(path: Path) -> Path:
    ids = pa.array([b"ok", b"Jos\xe9"], pa.binary())  # latin-1 bytes in a string column
    bad = pa.Array.from_buffers(pa.string(), len(ids), ids.buffers())
    pq.write_table(pa.table({"customer_id": bad, "ordered_at": ["2024-01-01", "2024-01-02"]}), path)
    return path


def test_a_parquet_id_column_that_is_not_utf8_is_quarantined_not_a_traceback(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    src = _parquet_with_bad_utf8(tmp_path / "orders.parquet")
    t = ingest(ws, src, now=NOW).tables[C.ORDERS]
    assert t.quarantined_by_reason == {"bad_encoding": 1}
    assert pd.read_parquet(ws.orders_path)[C.CUSTOMER_ID].tolist() == ["ok"]
    q = pd.read_csv(ws.quarantine_path(C.ORDERS))
    assert q[C.CUSTOMER_ID].tolist() == ["Jos\ufffd"]


def test_mixed_time_zones_warn_and_timezone_reads_offsetless_values_as_local(tmp_path):
    text = (
        "customer_id,ordered_at\na,2024-01-10T10:00:00+02:00\nb,2024-01-10 10:00\n"
        "c,2024-05-10 10:00:00\n"
    )
    ws = Workspace.at(tmp_path / "ws")
    t = _orders(ws, tmp_path, text)
    assert any("1 values have a UTC offset and 2 have none" in w for w in t.warnings)
    assert any("--timezone" in w for w in t.warnings)
    ws2 = Workspace.at(tmp_path / "ws2")
    t = _orders(ws2, tmp_path, text, timezone="Europe/Berlin")
    assert not any("offset" in w for w in t.warnings)
    got = pd.read_parquet(ws2.orders_path).set_index(C.CUSTOMER_ID)[C.ORDERED_AT]
    assert got.to_dict() == {
        "a": pd.Timestamp("2024-01-10 08:00"),
        "b": pd.Timestamp("2024-01-10 09:00"),  # CET, UTC+1
        "c": pd.Timestamp("2024-05-10 08:00"),  # CEST, UTC+2
    }
    with pytest.raises(IngestError, match="--timezone 'Mars/Olympus'"):
        _orders(ws2, tmp_path, text, timezone="Mars/Olympus")
