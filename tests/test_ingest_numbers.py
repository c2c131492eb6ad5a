"""Number formats are decided per column from all its values; never a silent 1000x error."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.ingest import ingest
from churnrec.ingest.numbers import parse_numbers
from churnrec.workspace import Workspace

NOW = datetime(2024, 6, 1)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1,299.00", "5"], [1299.0, 5.0]),
        (["1.299,00", "5"], [1299.0, 5.0]),
        (["1 299,00", "5"], [1299.0, 5.0]),
        (["1\u00a0299,00", "5,5"], [1299.0, 5.5]),
        (["1'299.50", "2"], [1299.5, 2.0]),
        (["1299", "7"], [1299.0, 7.0]),
        (["1,299", "3,500", "12.50"], [1299.0, 3500.0, 12.5]),  # "," groups thousands here
        (["1.299", "3.500", "12,50"], [1299.0, 3500.0, 12.5]),  # "." groups thousands here
        (["1,299,000", "4,500"], [1299000.0, 4500.0]),  # two commas prove thousands
        (["0,125", "1,500"], [0.125, 1.5]),  # a leading 0 proves a decimal comma
        (["-1.234,5", "+3"], [-1234.5, 3.0]),
    ],
)
def test_column_format_from_all_values(values, expected):
    parsed = parse_numbers(pd.Series(values, dtype="str"))
    assert not parsed.bad.any()
    assert parsed.values.tolist() == pytest.approx(expected)
    assert parsed.warning is None


def test_truly_ambiguous_column_warns_and_flags_settle_it():
    values = pd.Series(["1,299", "3,500"], dtype="str")
    parsed = parse_numbers(values)
    assert parsed.values.tolist() == [1299.0, 3500.0]
    assert "--decimal" in parsed.warning
    assert parse_numbers(values, decimal=",").values.tolist() == [1.299, 3.5]
    assert parse_numbers(values, thousands=".").values.tolist() == [1.299, 3.5]
    assert parse_numbers(values, thousands="none").values.tolist() == [1.299, 3.5]


def test_value_that_contradicts_the_column_is_a_bad_number_not_a_guess():
    parsed = parse_numbers(pd.Series(["1,299.00", "2,500.50", "12,5"], dtype="str"))
    assert parsed.bad.tolist() == [False, False, True]
    assert "mixed number formats" in parsed.warning


def _orders(tmp_path: Path, amounts: list[str]) -> Path:
    src = tmp_path / "orders.csv"
    rows = [f'c{i},2024-01-0{i + 1},"{a}"' for i, a in enumerate(amounts)]
    src.write_text("customer_id,ordered_at,amount\n" + "\n".join(rows) + "\n")
    return src


def test_quoted_thousands_are_read_from_the_columns_evidence(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    ingest(ws, _orders(tmp_path, ["1,299", "3,500", "12.50"]), now=NOW)
    got = pd.read_parquet(ws.orders_path).sort_values(C.CUSTOMER_ID)[C.AMOUNT].tolist()
    assert got == [1299.0, 3500.0, 12.5]  # not 1.299


def test_ambiguous_column_warning_names_file_and_column_and_cli_flag_decides(tmp_path):
    src = _orders(tmp_path, ["1,299", "3,500"])
    ws = Workspace.at(tmp_path / "ws")
    t = ingest(ws, src, now=NOW).tables[C.ORDERS]
    warning = next(w for w in t.warnings if "ambiguous" in w)
    assert str(src) in warning and "column amount" in warning
    result = CliRunner().invoke(
        app,
        ["ingest", str(src), "--workspace", str(tmp_path / "ws2"), "--json", "--decimal", ","],
    )
    assert result.exit_code == 0, result.output
    assert not any(
        "ambiguous" in w for w in json.loads(result.stdout)["tables"]["orders"]["warnings"]
    )
    got = pd.read_parquet(tmp_path / "ws2" / "data" / "orders.parquet")
    assert sorted(got[C.AMOUNT].tolist()) == [1.299, 3.5]


def test_thousands_config_key_and_bad_flag_value(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("thousands: '.'\n")
    ws = Workspace.at(tmp_path / "ws")
    ingest(ws, _orders(tmp_path, ["1,299", "3,500"]), config=config, now=NOW)
    assert sorted(pd.read_parquet(ws.orders_path)[C.AMOUNT].tolist()) == [1.299, 3.5]
    result = CliRunner().invoke(
        app, ["ingest", str(tmp_path / "orders.csv"), "--workspace", str(ws.root), "--decimal", ";"]
    )
    assert result.exit_code == 2 and "--decimal" in result.output
