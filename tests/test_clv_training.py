"""`churnrec train clv` on the real CDNOW 1/10 sample: honest split, metric keys, registry."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec.cli import app
from churnrec.workspace import Workspace

HORIZON = 181  # 1998-01..06 after a 1997-12-31 holdout cut-off, as in the CDNOW benchmark


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    from churnrec.training.clv import ClvTrainConfig, train_clv

    root = tmp_path_factory.mktemp("clv")
    result = CliRunner().invoke(app, ["ingest", "--sample", "cdnow", "--workspace", str(root)])
    assert result.exit_code == 0, result.output
    config = ClvTrainConfig(
        horizon_days=HORIZON, n_train_cutoffs=2, tweedie_powers=[1.3], model={"n_estimators": 80}
    )
    return Workspace.at(root), train_clv(root, config)


def test_reports_every_metric_key_on_the_later_holdout(trained) -> None:
    _, result = trained
    assert result.params["holdout_cutoff"] == "1997-12-31"
    for prefix in ("clv_", "btyd_clv_"):
        for name in ("gini", "spearman", "mae"):
            assert np.isfinite(result.metrics[prefix + name])
    assert 0 < result.metrics["clv_top_decile_share"] <= 1
    # both candidates were judged on the validation cut-off, not on the holdout
    for name in ("btyd", "boosted_tweedie_1.3"):
        assert np.isfinite(result.metrics[f"val_{name}_clv_gini"])
    assert result.metrics["clv_gini"] > 0.5
    assert result.metrics["btyd_clv_gini"] > 0.5


def test_registered_champion_predicts_spend_for_a_snapshot(trained) -> None:
    from churnrec.features.db import connect
    from churnrec.features.snapshot import build_customer_snapshot
    from churnrec.store.registry import load_champion

    ws, result = trained
    assert result.promotion.alias == "champion"
    loaded = load_champion(ws, "clv")
    snapshot = build_customer_snapshot(connect(ws), date(1998, 6, 30))
    predicted = loaded.model.predict(snapshot)
    assert predicted.shape == (len(snapshot),)
    assert np.all(predicted >= 0) and np.isfinite(predicted).all()
    # more past spend and a recent purchase should mean a higher predicted value on average
    top = snapshot["monetary_total"] > snapshot["monetary_total"].quantile(0.9)
    assert predicted[top.to_numpy()].mean() > predicted[~top.to_numpy()].mean()


def test_orders_without_amounts_are_skipped_with_a_reason(tmp_path: Path) -> None:
    from churnrec.ingest import ingest
    from churnrec.training.clv import train_clv

    days = pd.date_range("2024-01-01", "2024-12-31", freq="3D")
    orders = pd.DataFrame(
        {"customer_id": [f"c{i % 40}" for i in range(len(days))], "ordered_at": days}
    )
    orders.to_csv(tmp_path / "orders.csv", index=False)
    ws = Workspace.at(tmp_path / "ws")
    ingest(ws, tmp_path / "orders.csv")
    assert "no amounts" in train_clv(ws, None).skipped


def test_default_horizon_is_the_longest_the_history_allows(trained) -> None:
    from churnrec.features.db import connect
    from churnrec.training.clv import ClvTrainConfig, plan_for
    from churnrec.training.datasets import data_span

    ws, _ = trained  # the 1/10 sample spans 18 months: too short for 365 days, room for 180
    plan = plan_for(*data_span(connect(ws)), ClvTrainConfig())
    assert plan.horizon_days == 180
