"""Prices written with a decimal comma (German, French exports) are numbers, not bad rows."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from churnrec.ingest import ingest
from churnrec.ingest.numbers import parse_numbers
from churnrec.workspace import Workspace


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["10,5", "3", "1.234,56", "-2,25"], [10.5, 3.0, 1234.56, -2.25]),
        (["10.5", "3", "7.25"], [10.5, 3.0, 7.25]),  # dot decimals untouched
        (["1.234", "10,5"], [1234.0, 10.5]),  # a comma elsewhere makes "1.234" a thousand
    ],
)
def test_decimal_comma_columns_parse(values: list[str], expected: list[float]) -> None:
    parsed = parse_numbers(pd.Series(values, dtype="str"))
    assert not parsed.bad.any()
    assert parsed.values.tolist() == pytest.approx(expected)


def test_mixed_separators_are_not_guessed() -> None:
    parsed = parse_numbers(pd.Series(["10.5", "10,5"], dtype="str"))
    assert parsed.bad.tolist() == [False, True]  # ambiguous column: the odd one out is quarantined


def test_semicolon_export_with_decimal_comma_ingests(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    export.write_text("Kunde;Datum;Betrag\nA1;31/12/2024;10,50\nA2;15/01/2025;1.234,00\n")
    summary = ingest(
        Workspace.at(tmp_path / "ws"),
        export,
        column_map={"customer_id": "Kunde", "ordered_at": "Datum", "amount": "Betrag"},
        now=datetime(2026, 1, 1),
    ).to_dict()["tables"]["orders"]
    assert summary["rows_accepted"] == 2 and summary["rows_quarantined"] == 0
    orders = pd.read_parquet(tmp_path / "ws" / "data" / "orders.parquet").sort_values("customer_id")
    assert orders["amount"].tolist() == [10.5, 1234.0]
