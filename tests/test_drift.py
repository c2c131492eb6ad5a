"""PSI and KS drift per column, the drift record, and its owner-only `data/drift/latest.json`."""

from __future__ import annotations

import json
import math
import stat

import numpy as np
import pandas as pd
import pytest

from churnrec.training.drift import (
    DriftThresholds,
    column_drift,
    drift_result,
    frame_drift,
    ks,
    mlflow_metrics,
    psi,
    write_latest,
)
from churnrec.workspace import Workspace


def test_psi_is_zero_for_the_same_sample_and_matches_the_formula_for_a_shift() -> None:
    ref = np.arange(1000, dtype=float)  # ten quantile bins of 100 values each
    assert psi(ref, ref) == pytest.approx(0.0, abs=1e-12)
    # current: 55% of the values in the first bin, 5% in each of the other nine
    cur = np.concatenate([np.full(550, 5.0), np.repeat(np.arange(150, 1000, 100.0), 50)])
    expected = (0.55 - 0.1) * math.log(0.55 / 0.1) + 9 * (0.05 - 0.1) * math.log(0.05 / 0.1)
    assert psi(ref, cur) == pytest.approx(expected, rel=1e-9)


def test_psi_stays_finite_when_current_values_leave_the_reference_range() -> None:
    ref = np.arange(100, dtype=float)
    value = psi(ref, ref + 1000)
    assert math.isfinite(value) and value > 1


def test_ks_sees_a_shift_and_not_a_resample() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=2000), rng.normal(size=2000)
    d_same, p_same = ks(a, b)
    d_shift, p_shift = ks(a, b + 0.5)
    assert d_same < 0.06 and p_same > 0.01
    assert d_shift > 0.15 and p_shift < 1e-10


def test_column_drift_flags_by_threshold_and_skips_small_samples() -> None:
    rng = np.random.default_rng(1)
    ref = pd.Series(rng.exponential(30, 3000))
    thresholds = DriftThresholds()
    assert column_drift(ref, pd.Series(rng.exponential(30, 3000)), thresholds)["drift"] is False
    shifted = column_drift(ref, pd.Series(rng.exponential(60, 3000)), thresholds)
    assert shifted["drift"] is True and shifted["psi"] >= thresholds.psi
    small = column_drift(ref, pd.Series([1.0, 2.0]), thresholds)
    assert small["psi"] is None and small["drift"] is False


def test_frame_drift_covers_numeric_and_boolean_columns_only() -> None:
    rng = np.random.default_rng(2)
    n = 500
    ref = pd.DataFrame(
        {
            "customer_id": [str(i) for i in range(n)],
            "as_of": pd.Timestamp("2024-01-01"),
            "recency_days": rng.integers(0, 100, n),
            "marketing_consent": rng.random(n) < 0.5,
            "rfm_segment": "lost",
            "return_rate": pd.array(rng.random(n)),
        }
    )
    cur = ref.assign(recency_days=ref["recency_days"] + 60)
    result = frame_drift(ref, cur, DriftThresholds())
    assert set(result) == {"recency_days", "marketing_consent", "return_rate"}
    assert result["recency_days"]["drift"] and not result["return_rate"]["drift"]


def test_latest_json_is_owner_only_and_names_what_drifted(tmp_path) -> None:
    ws = Workspace.at(tmp_path)
    thresholds = DriftThresholds(psi=0.2)
    features = {"recency_days": {"psi": 0.5, "ks_statistic": 0.3, "ks_pvalue": 0.0, "drift": True}}
    scores = {"churn_probability": {"psi": 0.01, "ks_statistic": 0.02, "drift": False}}
    result = drift_result(
        reference_as_of="2024-01-31",
        current_as_of="2024-03-31",
        features=features,
        scores=scores,
        thresholds=thresholds,
        performance={"roc_auc": 0.71, "training_roc_auc": 0.8, "degraded": True},
    )
    path = write_latest(ws, result)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700  # data/drift/ itself too
    saved = json.loads(path.read_text())
    assert saved["drift"] is True and saved["drifted_features"] == ["recency_days"]
    assert saved["thresholds"]["psi"] == 0.2 and saved["current_as_of"] == "2024-03-31"
    metrics = mlflow_metrics(result)
    assert metrics["drift_flag"] == 1.0 and metrics["drift_psi/recency_days"] == 0.5
    assert metrics["champion_roc_auc"] == 0.71 and "champion_degraded" not in metrics
