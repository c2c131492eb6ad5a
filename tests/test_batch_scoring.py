"""`churnrec score` / `serving.batch.score_customers` on a real trained workspace."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.serving.batch import BatchScoreResult, score_customers
from churnrec.serving.scoring import SCORE_COLUMNS
from churnrec.workspace import Workspace
from tests.trained_workspace import build_trained_workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return build_trained_workspace(tmp_path_factory.mktemp("scored"))


@pytest.fixture(scope="module")
def snapshot(workspace: Workspace) -> pd.DataFrame:
    return pd.read_parquet(workspace.latest_snapshot_dir() / "customer_snapshot.parquet")


@pytest.fixture(scope="module")
def scored(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("exports") / "scores.csv"
    result = score_customers(workspace, out=out)
    frame = pd.read_csv(out, dtype={C.CUSTOMER_ID: str})
    return result, frame


def _consented(snapshot: pd.DataFrame) -> pd.Series:
    """Unknown consent (null) counts as allowed, as the data contract says."""
    return snapshot[C.MARKETING_CONSENT].astype("boolean").fillna(True).astype(bool)


def test_rows_are_sorted_by_risk_highest_first(scored) -> None:
    _, frame = scored
    p = frame["churn_probability"].to_numpy()
    assert len(p) > 100
    assert (p[:-1] >= p[1:]).all()
    assert frame["risk_tier"].isin({"low", "medium", "high"}).all()


def test_customers_without_consent_are_left_out_and_counted(scored, snapshot: pd.DataFrame) -> None:
    result, frame = scored
    consented = _consented(snapshot)
    no_consent = set(snapshot.loc[~consented, C.CUSTOMER_ID].astype(str))
    assert no_consent, "the synthetic shop should have customers who opted out"
    assert result.customers_scored == len(snapshot)
    assert result.excluded_no_consent == len(no_consent)
    assert result.excluded_below_min_risk == 0
    assert result.rows_written == len(frame)
    assert (
        result.customers_scored
        == result.rows_written + result.excluded_no_consent + result.excluded_below_min_risk
    )
    assert not set(frame[C.CUSTOMER_ID]) & no_consent
    assert set(frame[C.CUSTOMER_ID]) == set(snapshot.loc[consented, C.CUSTOMER_ID].astype(str))
    assert frame[C.MARKETING_CONSENT].all()
    assert sum(result.by_tier.values()) == result.rows_written
    assert sum(result.by_action.values()) == result.rows_written


def test_min_risk_high_keeps_only_high(workspace: Workspace, scored, tmp_path: Path) -> None:
    everyone, frame = scored
    result = score_customers(workspace, out=tmp_path / "high.csv", min_risk="high")
    high = pd.read_csv(tmp_path / "high.csv", dtype={C.CUSTOMER_ID: str})
    assert (high["risk_tier"] == "high").all()
    assert result.rows_written == len(high) == int((frame["risk_tier"] == "high").sum())
    assert result.excluded_no_consent == everyone.excluded_no_consent
    assert result.excluded_below_min_risk == everyone.rows_written - result.rows_written
    assert (
        result.customers_scored
        == result.rows_written + result.excluded_no_consent + result.excluded_below_min_risk
    )
    assert result.by_tier["medium"] == result.by_tier["low"] == 0


def test_csv_and_parquet_have_the_same_columns(
    workspace: Workspace, scored, tmp_path: Path
) -> None:
    _, frame = scored
    score_customers(workspace, out=tmp_path / "scores.parquet")
    parquet = pd.read_parquet(tmp_path / "scores.parquet")
    assert list(frame.columns) == list(parquet.columns) == list(SCORE_COLUMNS)
    for col in ("expected_days_to_next_order", "p_order_7d", "p_order_30d", "p_order_90d"):
        assert col in parquet.columns
        assert parquet[col].notna().all(), col
    assert parquet[C.CUSTOMER_ID].tolist() == frame[C.CUSTOMER_ID].tolist()
    assert parquet["top_reasons"].map(lambda s: isinstance(s, str) and "=" in s).all()


def test_bad_extension_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.csv or \.parquet.*scores\.xlsx"):
        score_customers(workspace, out=tmp_path / "scores.xlsx")
    assert not (tmp_path / "scores.xlsx").exists()


def test_cli_prints_where_it_wrote(workspace: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "cli.csv"
    result = CliRunner().invoke(
        app, ["score", "--workspace", str(workspace.root), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.exists()
    rows = len(pd.read_csv(out))
    assert f"wrote {rows:,} rows to {out}" in result.stdout
    assert "without marketing consent" in result.stdout


def test_cli_bad_extension_exits_2(workspace: Workspace, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["score", "--workspace", str(workspace.root), "--out", str(tmp_path / "x.json")]
    )
    assert result.exit_code == 2
    assert ".csv or .parquet" in result.stderr


def test_cli_on_untrained_workspace_exits_2_naming_train(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text("customer_id,ordered_at\na,2024-01-01\nb,2024-02-01\n")
    ws = tmp_path / "ws"
    ingested = CliRunner().invoke(app, ["ingest", str(orders), "--workspace", str(ws)])
    assert ingested.exit_code == 0, ingested.output
    result = CliRunner().invoke(app, ["score", "--workspace", str(ws)])
    assert result.exit_code == 2
    assert "churnrec train" in result.stderr
    assert "Traceback" not in result.output
    assert not (ws / "outputs" / "churn_scores.csv").exists()


def test_summary_lines_name_versions_and_snapshot(scored) -> None:
    result, _ = scored
    assert isinstance(result, BatchScoreResult)
    text = "\n".join(result.summary_lines())
    assert f"churn v{result.churn_version}" in text
    assert f"repurchase v{result.repurchase_version}" in text
    assert result.snapshot.startswith("as_of=")
