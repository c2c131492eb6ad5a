"""`churnrec features` over a workspace built by writing canonical Parquet files directly."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.features.pipeline import run_features
from churnrec.workspace import Workspace, WorkspaceError


def _workspace(root: Path) -> Workspace:
    ws = Workspace.at(root)
    ws.data_dir.mkdir(parents=True)
    orders = pd.DataFrame(
        {
            C.LINE_ID: ["l1", "l2", "l3", "l4", "l5", "l6"],
            C.CUSTOMER_ID: ["007", "007", "b", "b", "c", "007"],
            C.ORDER_ID: ["1", "2", "3", "4", "5", "6"],
            C.ORDERED_AT: pd.to_datetime(
                [
                    "2024-01-05 10:00",
                    "2024-02-05 10:00",
                    "2024-01-20 10:00",
                    "2024-03-01 10:00",
                    "2024-03-02 10:00",
                    "2024-04-15 10:00",
                ]
            ).astype("datetime64[us]"),
            C.ITEM_ID: ["x", "y", "x", None, "y", "x"],
            C.QUANTITY: [1.0, 1.0, 2.0, 1.0, 1.0, 1.0],
            C.AMOUNT: [10.0, 20.0, 30.0, 5.0, 8.0, 12.0],
            C.CHANNEL: ["web", "web", "app", "app", "web", "web"],
            C.STATUS: ["completed", "completed", "completed", "returned", "completed", "completed"],
            C.IS_RETURN: [False, False, False, True, False, False],
        }
    )
    orders.to_parquet(ws.orders_path, index=False)
    pd.DataFrame(
        {
            C.ITEM_ID: ["x", "y"],
            C.CATEGORY: ["k1", "k2"],
            C.BRAND: ["b", "b"],
            C.PRICE: [10.0, 20.0],
        }
    ).to_parquet(ws.table_path(C.ITEMS), index=False)
    ws.manifest_path.write_text(json.dumps({"tables": {C.ORDERS: {"rows": len(orders)}}}))
    return ws


def test_cli_builds_tables_and_skips_unobserved_labels(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "ws")
    out = tmp_path / "snap.csv"
    result = CliRunner().invoke(app, ["features", "--workspace", str(ws.root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    target = ws.snapshot_dir(pd.Timestamp("2024-04-15").date())  # default: last order date
    snap = pd.read_parquet(target / "customer_snapshot.parquet")
    assert snap[C.CUSTOMER_ID].tolist() == ["007", "b", "c"]  # ids stay strings
    assert snap["frequency"].tolist() == [3, 1, 1]
    # only what something reads: no interactions, no labels unless a horizon is asked for
    assert sorted(p.name for p in target.iterdir()) == ["customer_snapshot.parquet"]
    assert "3 customers" in result.output
    assert str(target) in result.output
    assert pd.read_csv(out, dtype={C.CUSTOMER_ID: str})[C.CUSTOMER_ID].tolist() == ["007", "b", "c"]


def test_cli_with_observed_horizon_writes_labels(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "ws")
    args = [
        "features",
        "--workspace",
        str(ws.root),
        "--as-of",
        "2024-01-31",
        "--horizon-days",
        "30",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    labels = pd.read_parquet(ws.snapshot_dir(pd.Timestamp("2024-01-31").date()) / "labels.parquet")
    # 007: next order 02-05 (5 days); b: its only later line is a return -> censored at 04-15
    assert labels[[C.CUSTOMER_ID, C.CHURNED, C.DAYS_TO_NEXT_ORDER, C.CENSORED]].values.tolist() == [
        ["007", False, 5, False],
        ["b", True, 75, True],
    ]


def test_run_features_result_and_no_monetary(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "ws")
    orders = pd.read_parquet(ws.orders_path)
    orders[C.AMOUNT] = None
    orders[C.AMOUNT] = orders[C.AMOUNT].astype("float64")
    orders.to_parquet(ws.orders_path, index=False)
    result = run_features(ws.root, horizon_days=30)
    assert result.has_monetary is False
    assert result.n_customers == 3
    assert sum(result.segment_counts.values()) == 3
    assert any("no monetary values" in line for line in result.summary_lines())
    assert "m_score" not in pd.read_parquet(result.snapshot_path).columns


def test_cli_errors_without_ingested_data(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["features", "--workspace", str(tmp_path)])
    assert result.exit_code == 2
    assert "churnrec ingest" in result.output
    with pytest.raises(WorkspaceError):
        run_features(tmp_path)


def test_cli_rejects_bad_date(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "ws")
    result = CliRunner().invoke(app, ["features", "--workspace", str(ws.root), "--as-of", "x"])
    assert result.exit_code != 0
    assert "YYYY-MM-DD" in result.output
