"""On the real CDNOW sample (README hint: 1997 as history, 1998-01..06 as horizon), the churn
champion that serves is at least as good on the holdout as the best simple rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from churnrec.cli import app
from churnrec.store.registry import load_champion

runner = CliRunner()
BASELINES = ("recency", "bgnbd", "paretonbd")


@pytest.mark.slow
def test_served_churn_champion_is_at_least_the_best_baseline(tmp_path: Path) -> None:
    ws = str(tmp_path)
    assert runner.invoke(app, ["ingest", "--sample", "cdnow", "--workspace", ws]).exit_code == 0
    result = runner.invoke(app, ["train", "churn", "--workspace", ws, "--horizon-days", "181"])
    assert result.exit_code == 0, result.output
    champion = load_champion(ws, "churn")
    metrics = champion.metrics
    best = max(metrics[f"{b}_roc_auc"] for b in BASELINES)
    assert metrics["roc_auc"] >= best, (metrics["roc_auc"], best, champion.tags)
    assert champion.tags["holdout_id"].startswith("1997-12-31..1998-06-30#")
    # the choice was made on validation, and every candidate's validation score is logged
    assert {"val_roc_auc", "val_logistic_roc_auc", "val_paretonbd_roc_auc"} <= set(metrics)
