"""`churnrec score` with only an uplift model (Hillstrom: one past order per customer)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.ingest.errors import IngestError
from churnrec.ingest.hillstrom import CAMPAIGN_ID, ENV_VAR, hillstrom_path

runner = CliRunner()
N_ROWS = 2000  # a slice of the 64,000 keeps ingest + uplift training to seconds


@pytest.fixture(scope="module")
def hillstrom_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        source = hillstrom_path()
    except IngestError as exc:
        pytest.skip(str(exc))
    root = tmp_path_factory.mktemp("hillstrom_uplift")
    subset = root / "hillstrom_email.csv.gz"
    raw = pd.read_csv(source, dtype=str, keep_default_na=False)
    raw.head(N_ROWS).to_csv(subset, index=False)
    ws = root / "ws"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_VAR, str(subset))
        ingested = runner.invoke(app, ["ingest", "--sample", "hillstrom", "--workspace", str(ws)])
    assert ingested.exit_code == 0, ingested.output
    # A real shop has customers who said no and some who never answered.
    customers = pd.read_parquet(ws / "data" / "customers.parquet")
    consent = customers[C.MARKETING_CONSENT].astype("boolean")
    consent.iloc[:10] = False
    consent.iloc[10:25] = pd.NA
    customers[C.MARKETING_CONSENT] = consent
    customers.to_parquet(ws / "data" / "customers.parquet", index=False)
    trained = runner.invoke(
        app,
        ["train", "uplift", "--campaign", CAMPAIGN_ID, "--treatment", "womens_email",
         "--control", "control", "--outcome", "visited", "--workspace", str(ws)],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    return ws


def test_uplift_only_shop_gets_its_uplift_column(hillstrom_ws: Path) -> None:
    result = runner.invoke(app, ["score", "--workspace", str(hillstrom_ws)])
    assert result.exit_code == 0, result.output
    out = hillstrom_ws / "outputs" / "churn_scores.csv"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    frame = pd.read_csv(out, dtype={C.CUSTOMER_ID: str})
    customers = pd.read_parquet(hillstrom_ws / "data" / "customers.parquet")
    recorded = customers.set_index(C.CUSTOMER_ID)[C.MARKETING_CONSENT].astype("boolean")
    contactable = set(recorded.index[recorded.fillna(False)])
    assert set(frame[C.CUSTOMER_ID]) == contactable  # unknown consent counts as no
    assert len(contactable) == N_ROWS - 25
    assert frame["uplift"].notna().all() and frame["uplift"].std() > 0
    assert frame["uplift"].is_monotonic_decreasing  # best candidates for the e-mail first
    assert "churn_probability" not in frame.columns  # no churn model, no churn columns
    assert "uplift v1" in result.stdout and "no feature snapshot" in result.stderr


def test_min_risk_without_a_churn_model_is_a_clear_error(hillstrom_ws: Path) -> None:
    result = runner.invoke(app, ["score", "--min-risk", "high", "--workspace", str(hillstrom_ws)])
    assert result.exit_code == 2
    assert "churn model" in result.stderr and "Traceback" not in result.output


def test_no_model_at_all_exits_2_naming_what_to_train(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    pd.DataFrame(
        {C.CUSTOMER_ID: ["a", "b"], C.ORDERED_AT: ["2024-01-01", "2024-02-01"], C.AMOUNT: [5, 7]}
    ).to_csv(orders, index=False)
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["ingest", str(orders), "--workspace", str(ws)]).exit_code == 0
    result = runner.invoke(app, ["score", "--workspace", str(ws)])
    assert result.exit_code == 2
    assert "churnrec train uplift" in result.stderr and "churnrec train churn" in result.stderr
    assert not (ws / "outputs" / "churn_scores.csv").exists()
