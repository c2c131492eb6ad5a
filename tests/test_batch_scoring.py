"""`churnrec score` / `scores.export.score_customers` on a real trained workspace."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.scores.config import ServingConfig
from churnrec.scores.export import EXPORT_COLUMNS, BatchScoreResult, score_customers
from churnrec.workspace import Workspace
from tests.trained_workspace import trained_workspace_copy

N_UNKNOWN = 60


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = trained_workspace_copy(tmp_path_factory, tmp_path_factory.mktemp("scored"))
    # The synthetic shop records every answer; a real one has customers who never answered.
    customers = pd.read_parquet(ws.table_path(C.CUSTOMERS))
    said_yes = customers.index[customers[C.MARKETING_CONSENT].astype("boolean").fillna(False)]
    customers[C.MARKETING_CONSENT] = customers[C.MARKETING_CONSENT].astype("boolean")
    customers.loc[said_yes[:N_UNKNOWN], C.MARKETING_CONSENT] = pd.NA
    customers.to_parquet(ws.table_path(C.CUSTOMERS), index=False)
    return ws


@pytest.fixture(scope="module")
def snapshot(workspace: Workspace) -> pd.DataFrame:
    return pd.read_parquet(workspace.latest_snapshot_dir() / "customer_snapshot.parquet")


@pytest.fixture(scope="module")
def consent(workspace: Workspace) -> pd.Series:
    """Recorded consent per customer id: True / False / NA."""
    customers = pd.read_parquet(workspace.table_path(C.CUSTOMERS))
    return customers.set_index(C.CUSTOMER_ID)[C.MARKETING_CONSENT].astype("boolean")


@pytest.fixture(scope="module")
def scored(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("exports") / "scores.csv"
    result = score_customers(workspace, out=out)
    frame = pd.read_csv(out, dtype={C.CUSTOMER_ID: str})
    return result, frame


def test_rows_are_sorted_by_risk_highest_first(scored) -> None:
    _, frame = scored
    p = frame["churn_probability"].to_numpy()
    assert len(p) > 100
    assert (p[:-1] >= p[1:]).all()
    assert frame["risk_tier"].isin({"low", "medium", "high"}).all()


def test_only_customers_with_recorded_consent_are_exported(scored, snapshot, consent) -> None:
    result, frame = scored
    ids = snapshot[C.CUSTOMER_ID].astype(str)
    recorded = consent.reindex(ids)
    said_no = set(ids[recorded.eq(False).fillna(False).to_numpy()])
    unknown = set(ids[recorded.isna().to_numpy()])
    assert said_no and len(unknown) >= N_UNKNOWN // 2
    exported = set(frame[C.CUSTOMER_ID])
    assert not exported & said_no
    assert not exported & unknown, "unknown consent must count as no"
    assert exported == set(ids) - said_no - unknown
    assert result.excluded_no_consent == len(said_no)
    assert result.excluded_unknown_consent == len(unknown)
    assert (
        result.customers_scored
        == len(snapshot)
        == (
            result.rows_written
            + result.excluded_no_consent
            + result.excluded_unknown_consent
            + result.excluded_below_min_risk
        )
    )
    assert frame[C.MARKETING_CONSENT].all() and frame["contactable"].all()
    assert sum(result.by_tier.values()) == result.rows_written
    assert sum(result.by_action.values()) == result.rows_written
    assert "none" not in result.by_action


def test_consent_default_allow_exports_unknown_but_never_a_no(
    workspace: Workspace, scored, snapshot, consent, tmp_path: Path
) -> None:
    strict, _ = scored
    out = tmp_path / "allow.csv"
    result = score_customers(workspace, out=out, config=ServingConfig(consent_default="allow"))
    frame = pd.read_csv(out, dtype={C.CUSTOMER_ID: str})
    assert result.excluded_unknown_consent == 0
    assert result.rows_written == strict.rows_written + strict.excluded_unknown_consent
    said_no = consent[consent.eq(False).fillna(False)].index
    assert not set(frame[C.CUSTOMER_ID]) & set(said_no)
    assert any("UNKNOWN marketing consent" in w for w in result.warnings)


def test_export_is_ready_for_a_retention_team(scored, snapshot) -> None:
    result, frame = scored
    assert list(frame.columns[: len(EXPORT_COLUMNS)]) == list(EXPORT_COLUMNS)
    for i in (1, 2, 3):
        for what in ("feature", "value", "contribution"):
            assert f"reason_{i}_{what}" in frame.columns
    as_of = result.snapshot.removeprefix("as_of=")
    assert (frame[C.AS_OF] == as_of).all()
    assert (frame["model_version"].astype(str) == result.versions["churn"]).all()
    row = frame.iloc[0]
    snap = snapshot.set_index(snapshot[C.CUSTOMER_ID].astype(str)).loc[row[C.CUSTOMER_ID]]
    assert row["orders"] == snap["frequency"]
    assert row["total_spend"] == pytest.approx(snap["monetary_total"])
    assert row["last_order_date"] == pd.Timestamp(snap["last_order_at"]).strftime("%Y-%m-%d")
    # reasons are sentences, not feature=value dumps
    high = frame[frame["risk_tier"] == "high"]
    assert high["reasons"].str.len().gt(10).all()
    assert not high["reasons"].str.contains(r"=|e-0\d", regex=True).any()
    # tiers are actionable shares, not most of the shop
    shares = frame["risk_tier"].value_counts(normalize=True)
    assert shares.get("high", 0) < 0.25


def test_export_is_owner_only(scored) -> None:
    result, _ = scored
    assert stat.S_IMODE(os.stat(result.out).st_mode) == 0o600


def test_min_risk_high_keeps_only_high(workspace: Workspace, scored, tmp_path: Path) -> None:
    everyone, frame = scored
    result = score_customers(workspace, out=tmp_path / "high.csv", min_risk="high")
    high = pd.read_csv(tmp_path / "high.csv", dtype={C.CUSTOMER_ID: str})
    assert (high["risk_tier"] == "high").all()
    assert result.rows_written == len(high) == int((frame["risk_tier"] == "high").sum())
    assert result.excluded_no_consent == everyone.excluded_no_consent
    assert result.excluded_below_min_risk == everyone.rows_written - result.rows_written
    assert result.by_tier["medium"] == result.by_tier["low"] == 0


def test_csv_and_parquet_have_the_same_columns(
    workspace: Workspace, scored, tmp_path: Path
) -> None:
    _, frame = scored
    score_customers(workspace, out=tmp_path / "scores.parquet")
    parquet = pd.read_parquet(tmp_path / "scores.parquet")
    assert list(frame.columns) == list(parquet.columns)
    for col in ("expected_days_to_next_order", "p_order_7d", "p_order_30d", "p_order_90d"):
        assert col in parquet.columns
        assert parquet[col].notna().all(), col
    assert parquet[C.CUSTOMER_ID].tolist() == frame[C.CUSTOMER_ID].tolist()
    assert parquet["reason_1_contribution"].dtype == float


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
    assert "with unknown consent" in result.stdout


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
    assert f"churn v{result.versions['churn']}" in text
    assert f"repurchase v{result.versions['repurchase']}" in text
    assert result.snapshot.startswith("as_of=")


def test_as_of_picks_the_snapshot_and_says_when_it_is_stale(
    workspace: Workspace, tmp_path: Path
) -> None:
    from churnrec.features.pipeline import run_features

    latest = workspace.latest_snapshot_dir().name.removeprefix("as_of=")
    older = (pd.Timestamp(latest) - pd.Timedelta(days=60)).date()
    run_features(workspace, as_of=older)
    out = tmp_path / "old.csv"
    result = CliRunner().invoke(
        app,
        ["score", "--workspace", str(workspace.root), "--out", str(out), "--as-of", str(older)],
    )
    assert result.exit_code == 0, result.output
    assert f"from as_of={older}" in result.stdout
    assert f"WARNING: snapshot as_of={older} is older than the newest ingested order" in (
        result.stderr
    )
    assert (pd.read_csv(out)[C.AS_OF] == str(older)).all()
    # the default is still the newest snapshot, without a staleness warning
    newest = CliRunner().invoke(
        app, ["score", "--workspace", str(workspace.root), "--out", str(tmp_path / "n.csv")]
    )
    assert f"from as_of={latest}" in newest.stdout and "older than" not in newest.stderr
    # the service says the same about the snapshot it serves (log and /metadata)
    from churnrec.serving.state import load_state

    state = load_state(workspace, as_of=older)
    assert state.snapshot_as_of == str(older)
    assert any("older than the newest ingested order" in w for w in state.warnings)
    assert not load_state(workspace).warnings
    missing = CliRunner().invoke(
        app, ["score", "--workspace", str(workspace.root), "--as-of", "1999-01-01"]
    )
    assert missing.exit_code == 2
    assert "churnrec features --as-of 1999-01-01" in missing.stderr


def test_expected_loss_tiers_without_a_clv_model_fall_back_with_a_note(
    workspace: Workspace, tmp_path: Path, scored
) -> None:
    from churnrec.scores.config import TierConfig

    _, by_p = scored
    config = ServingConfig(tiers=TierConfig(rank_by="expected_loss"))
    result = score_customers(workspace, out=tmp_path / "el.csv", config=config)
    assert any("rank by churn probability" in w for w in result.warnings)
    frame = pd.read_csv(result.out, dtype={C.CUSTOMER_ID: str})
    assert frame["risk_tier"].tolist() == by_p["risk_tier"].tolist()


def test_a_retired_model_class_is_unavailable_with_its_reason_and_the_rest_serves(
    workspace: Workspace, tmp_path: Path
) -> None:
    """A repurchase champion saved as a class churnrec no longer has (the removed days-mixing
    rule) must not stop the service: repurchase is unavailable, saying to retrain it."""
    import shutil

    from churnrec.serving.state import load_state

    copy = Workspace.at(shutil.copytree(workspace.root, tmp_path / "ws"))
    retired = "churnrec.models.baseline_models:RuleDaysRepurchase"
    for mlmodel in copy.mlruns_dir.rglob("MLmodel"):
        text = mlmodel.read_text()
        if "churnrec.models.repurchase:RepurchaseModel" in text:
            mlmodel.write_text(text.replace("churnrec.models.repurchase:RepurchaseModel", retired))
    state = load_state(copy)
    assert "churnrec train repurchase" in state.unavailable["repurchase"]
    assert state.serves("churn") and state.serves("recommender")
