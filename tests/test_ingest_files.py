"""File-level problems stop the run with a clear message and leave the workspace unchanged;
CSV.gz and Parquet inputs; the --column / --config mapping."""

from __future__ import annotations

import gzip
import json
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
GOOD = "customer_id,ordered_at,amount\na,2024-01-01,10\nb,2024-01-02,5\n"


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _cli(*args: str):
    return CliRunner().invoke(app, ["ingest", *args])


def test_missing_required_column_names_file_column_and_found_columns(tmp_path):
    src = tmp_path / "orders.csv"
    src.write_text("CustID,ordered_at,amount\na,2024-01-01,10\n")
    result = _cli(str(src), "--workspace", str(tmp_path / "ws"))
    assert result.exit_code == 2
    assert "orders.csv" in result.stderr
    assert "customer_id" in result.stderr
    assert "columns found: CustID, ordered_at, amount" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "ws" / "data").exists()


def test_unknown_mapped_column(tmp_path):
    src = tmp_path / "orders.csv"
    src.write_text(GOOD)
    with pytest.raises(
        IngestError,
        match=r"orders.csv: column 'Kunde' \(mapped to customer_id\) "
        r"is not in the file; columns found: customer_id",
    ):
        ingest(Workspace.at(tmp_path), src, column_map={"customer_id": "Kunde"}, now=NOW)
    with pytest.raises(IngestError, match="'shoe_size' is not a churnrec column"):
        ingest(Workspace.at(tmp_path), src, column_map={"shoe_size": "x"}, now=NOW)


def test_mapping_for_another_kind_is_ignored_for_this_file(tmp_path):
    src = tmp_path / "orders.csv"
    src.write_text(GOOD)
    summary = ingest(Workspace.at(tmp_path), src, column_map={"region": "Land"}, now=NOW)
    assert summary.tables[C.ORDERS].rows_accepted == 2


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "the file is empty"),
        (
            "header_only.csv",
            b"customer_id,ordered_at\n",
            "no data rows; columns found: customer_id, ordered_at",
        ),
        ("broken.csv.gz", b"this is not gzip data at all", "cannot be read"),
        ("broken.parquet", b"PAR1 definitely not parquet", "cannot be read as Parquet"),
        (
            "ragged.csv",
            b"customer_id,ordered_at\na,2024-01-01,extra,more\n",
            "all 1 rows were rejected (ragged_row: 1)",
        ),
    ],
)
def test_unreadable_files_stop_with_exit_2(tmp_path, name, content, message):
    src = tmp_path / name
    src.write_bytes(content)
    result = _cli(str(src), "--workspace", str(tmp_path / "ws"))
    assert result.exit_code == 2, result.output
    assert name in result.stderr and message in result.stderr


def test_nothing_half_written_when_a_later_file_fails(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    first = tmp_path / "first.csv"
    first.write_text(GOOD)
    ingest(ws, first, now=NOW)
    before = _snapshot(ws.root)

    more = tmp_path / "more.csv"
    more.write_text("customer_id,ordered_at,amount\nz,2024-02-01,1\nz,oops,1\n")
    bad_customers = tmp_path / "customers.csv"
    bad_customers.write_text("Kunde,region\nz,north\n")
    with pytest.raises(
        IngestError, match="customers file .*customers.csv: required column customer_id"
    ):
        ingest(ws, more, customers=bad_customers, now=NOW)
    assert _snapshot(ws.root) == before  # orders table, quarantine, manifest untouched


def test_gzipped_csv_semicolons_and_parquet_inputs(tmp_path):
    gz = tmp_path / "orders.csv.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write("customer_id;ordered_at;amount\n007;2024-01-01;10\n")
    ws = Workspace.at(tmp_path / "a")
    assert ingest(ws, gz, now=NOW).tables[C.ORDERS].rows_accepted == 1
    assert pd.read_parquet(ws.orders_path)[C.CUSTOMER_ID].tolist() == ["007"]

    pq_path = tmp_path / "orders.parquet"
    pd.DataFrame(
        {
            "cust": [7, 8],
            "when": pd.to_datetime(["2024-01-01 12:00", "2024-01-02 00:00"]).tz_localize(
                "Europe/Berlin"
            ),
            "amount": [1.5, 2.0],
        }
    ).to_parquet(pq_path)
    ws = Workspace.at(tmp_path / "b")
    ingest(ws, pq_path, column_map={"customer_id": "cust", "ordered_at": "when"}, now=NOW)
    got = pd.read_parquet(ws.orders_path)
    assert got[C.CUSTOMER_ID].tolist() == ["7", "8"]
    assert got[C.ORDERED_AT].tolist() == [
        pd.Timestamp("2024-01-01 11:00"),
        pd.Timestamp("2024-01-01 23:00"),
    ]


def test_yaml_config_maps_per_kind_and_sets_date_format(tmp_path):
    orders = tmp_path / "o.csv"
    orders.write_text("Kunde,Datum\nk1,01/02/2024\nk2,03/04/2024\n")
    customers = tmp_path / "c.csv"
    customers.write_text("Nr,Land\nk1,DE\n")
    config = tmp_path / "map.yaml"
    config.write_text(
        "orders: {customer_id: Kunde, ordered_at: Datum}\n"
        "customers: {customer_id: Nr, region: Land}\n"
        "date_format: '%m/%d/%Y'\n"
    )
    ws = Workspace.at(tmp_path / "ws")
    ingest(ws, orders, customers=customers, config=config, now=NOW)
    got = pd.read_parquet(ws.orders_path)
    assert got[C.ORDERED_AT].tolist() == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-03-04")]
    assert pd.read_parquet(ws.table_path(C.CUSTOMERS))[C.REGION].tolist() == ["DE"]

    config.write_text("orders: {customer_id: Kunde, shoe: Datum}\n")
    with pytest.raises(IngestError, match=r"orders has no column\(s\) \['shoe'\]"):
        ingest(ws, orders, config=config, now=NOW)
    config.write_text("order: {customer_id: Kunde}\n")
    with pytest.raises(IngestError, match="order"):
        ingest(ws, orders, config=config, now=NOW)


def test_bad_column_flag_exits_2(tmp_path):
    src = tmp_path / "o.csv"
    src.write_text(GOOD)
    result = _cli(str(src), "--column", "customer_id", "--workspace", str(tmp_path))
    assert result.exit_code == 2
    assert "expected NAME=THEIR_NAME" in result.stderr


def test_latin1_file_is_read_with_a_warning(tmp_path):
    src = tmp_path / "o.csv"
    src.write_bytes("customer_id,ordered_at,channel\nm\xfcller,2024-01-01,web\n".encode("latin-1"))
    ws = Workspace.at(tmp_path / "ws")
    summary = ingest(ws, src, now=NOW)
    assert pd.read_parquet(ws.orders_path)[C.CUSTOMER_ID].tolist() == ["m\u00fcller"]
    assert any("not UTF-8: read as cp1252" in w for w in summary.tables[C.ORDERS].warnings)
    assert summary.tables[C.ORDERS].encoding == "cp1252"
    assert json.loads(ws.manifest_path.read_text())["tables"][C.ORDERS]["rows"] == 1


def test_column_flag_applies_to_every_file_given(tmp_path):
    orders = tmp_path / "o.csv"
    orders.write_text("CustID,ordered_at\nk1,2024-01-01\n")
    customers = tmp_path / "c.csv"
    customers.write_text("CustID,region\nk1,DE\n")
    ws = tmp_path / "ws"
    result = CliRunner().invoke(
        app,
        [
            "ingest",
            str(orders),
            "--customers",
            str(customers),
            "--column",
            "customer_id=CustID",
            "--workspace",
            str(ws),
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert pd.read_parquet(ws / "data" / "customers.parquet")[C.CUSTOMER_ID].tolist() == ["k1"]
    assert pd.read_parquet(ws / "data" / "orders.parquet")[C.CUSTOMER_ID].tolist() == ["k1"]


def test_nothing_to_ingest(tmp_path):
    with pytest.raises(IngestError, match="nothing to ingest"):
        ingest(Workspace.at(tmp_path), None)
