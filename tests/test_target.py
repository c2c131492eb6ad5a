"""`churnrec target`: consenting customers only, ranked by expected incremental profit."""

from __future__ import annotations

import json
import stat

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.workspace import Workspace

runner = CliRunner()
N = 3000


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    from churnrec.training.uplift import UpliftTrainConfig, train_uplift

    ws = Workspace.at(tmp_path_factory.mktemp("target"))
    rng = np.random.default_rng(5)
    ids = [f"t{i:05d}" for i in range(N)]
    persuadable = rng.random(N) < 0.3
    badly = ~persuadable & (rng.random(N) < 0.15)
    treated = rng.random(N) < 0.5
    p = 0.1 + treated * np.select([persuadable, badly], [0.4, -0.08], 0.0)
    ws.data_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            C.CUSTOMER_ID: ids,
            C.CAMPAIGN_ID: "may",
            C.ARM: np.where(treated, "email", "control"),
            C.SENT_AT: pd.Timestamp("2025-05-01"),
            C.CONVERTED: (rng.random(N) < p).astype(float),
        }
    ).to_parquet(ws.table_path(C.CAMPAIGNS), index=False)
    consent = pd.array(rng.choice([True, False, None], N, p=[0.6, 0.2, 0.2]), dtype="boolean")
    pd.DataFrame(
        {
            C.CUSTOMER_ID: ids,
            "loves_email": persuadable.astype(float),
            "grumpy": badly.astype(float),
            C.MARKETING_CONSENT: consent,
        }
    ).to_parquet(ws.data_dir / "customers.parquet", index=False)
    train_uplift(
        ws, UpliftTrainConfig(campaign_id="may", treatment="email", model={"n_estimators": 50})
    )
    return ws


def _customers(ws: Workspace) -> pd.DataFrame:
    return pd.read_parquet(ws.data_dir / "customers.parquet").set_index(C.CUSTOMER_ID)


def test_list_has_only_explicit_consent_and_persuadables_first(ws: Workspace) -> None:
    out = ws.root / "list.csv"
    result = runner.invoke(
        app,
        [
            "target",
            "--campaign-size",
            "400",
            "--margin",
            "50",
            "--cost-per-contact",
            "2",
            "--out",
            str(out),
            "--json",
            "--workspace",
            str(ws.root),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    listed = pd.read_csv(out, dtype={C.CUSTOMER_ID: str})
    assert len(listed) == summary["contacts"] <= 400
    customers = _customers(ws).loc[listed[C.CUSTOMER_ID]]
    assert customers[C.MARKETING_CONSENT].eq(True).all()  # unknown consent is no
    assert summary["excluded_no_consent"] == int(
        (~_customers(ws)[C.MARKETING_CONSENT].fillna(False)).sum()
    )
    assert customers["loves_email"].mean() > 0.8
    assert customers["grumpy"].sum() == 0
    assert (listed["expected_incremental_profit"] > 0).all()
    assert listed["expected_incremental_profit"].is_monotonic_decreasing
    assert summary["model_incremental_outcome"] == pytest.approx(listed["uplift"].sum())
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_budget_caps_the_number_of_contacts(ws: Workspace) -> None:
    from churnrec.serving.targeting import build_target_list

    result = build_target_list(ws, budget=100.0, cost_per_contact=1.0, margin=50.0)
    assert result.contacts == 100
    assert result.expected_incremental_outcome > 100 * 0.2  # persuadables gain ~0.4 each


def test_size_or_budget_is_required(ws: Workspace) -> None:
    result = runner.invoke(app, ["target", "--workspace", str(ws.root)])
    assert result.exit_code == 2 and "--campaign-size" in result.output
