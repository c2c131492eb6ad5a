"""ChurnModel: learns a signal beyond recency, stays monotone in recency, explains, round-trips,
repeats exactly; churn_metrics on hand-computed cases."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from churnrec import columns as C
from models.churn import BIAS, ChurnModel, ChurnModelConfig, NotFittedError, Reason
from training.churn_metrics import (
    churn_metrics,
    ranking_metrics,
    recency_rule_scores,
    top_fraction_lift_capture,
)
from training.datasets import model_feature_columns

FEATURES = ["recency_days", "frequency", "orders_trend", "monetary_avg", "tenure_days"]
SMALL = ChurnModelConfig(n_estimators=120, learning_rate=0.1, n_threads=1)


def synthetic_snapshot(n: int, seed: int, as_of: date = date(2024, 1, 1)) -> pd.DataFrame:
    """Churn driven by recency, but also (noisily) by frequency and the order trend."""
    rng = np.random.default_rng(seed)
    recency = rng.exponential(60, n).round()
    frequency = rng.poisson(3, n) + 1.0
    trend = rng.uniform(-1, 1, n)
    logit = -1.0 + 0.02 * recency - 0.8 * np.log1p(frequency) - 2.0 * trend
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: [f"s{seed}-{i}" for i in range(n)],
            C.AS_OF: as_of,
            "recency_days": recency,
            "frequency": frequency,
            "orders_trend": trend,
            "monetary_avg": rng.gamma(2, 30, n),  # pure noise
            "tenure_days": recency + rng.integers(0, 300, n),
            C.RFM_SEGMENT: "x",
            C.MARKETING_CONSENT: True,
            C.CHURNED: churned,
        }
    )


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return synthetic_snapshot(2500, seed=1)


@pytest.fixture(scope="module")
def holdout() -> pd.DataFrame:
    return synthetic_snapshot(1000, seed=2)


@pytest.fixture(scope="module", params=["lightgbm", "xgboost"])
def fitted(request, train) -> ChurnModel:
    return ChurnModel().fit(train, FEATURES, SMALL, learner=request.param)


def test_beats_recency_rule_on_holdout(fitted, holdout):
    p = fitted.predict_proba(holdout)
    assert p.shape == (len(holdout),)
    assert ((p >= 0) & (p <= 1)).all()
    model_auc = roc_auc_score(holdout[C.CHURNED], p)
    recency_auc = roc_auc_score(holdout[C.CHURNED], recency_rule_scores(holdout))
    assert model_auc > recency_auc + 0.05, (model_auc, recency_auc)


def test_more_recent_purchase_never_raises_churn_probability(fitted, holdout):
    rows = holdout.head(200)
    previous = None
    for days in [0, 1, 3, 7, 14, 30, 45, 60, 90, 120, 180, 270, 365, 720]:
        p = fitted.predict_proba(rows.assign(recency_days=float(days)))
        if previous is not None:
            assert (p >= previous - 1e-12).all(), f"P(churn) fell when recency grew to {days} days"
        previous = p
    # and the constraint is not vacuous: recency matters
    assert (previous - fitted.predict_proba(rows.assign(recency_days=0.0))).mean() > 0.05


def test_contributions_add_up_to_raw_margin_and_explain_ranks_them(fitted, holdout):
    rows = holdout.head(50)
    contrib = fitted.contributions(rows)
    assert list(contrib.columns) == [*FEATURES, BIAS]
    np.testing.assert_allclose(contrib.sum(axis=1).to_numpy(), fitted.raw_margin(rows), atol=1e-4)

    reasons = fitted.explain(rows, top_k=3)
    assert len(reasons) == len(rows)
    for i, row_reasons in enumerate(reasons):
        assert len(row_reasons) == 3 and all(isinstance(r, Reason) for r in row_reasons)
        values = [r.contribution for r in row_reasons]
        assert values == sorted(values, reverse=True)
        assert values[0] == pytest.approx(contrib.iloc[i][FEATURES].max())
        top = row_reasons[0]
        assert top.value == pytest.approx(rows.iloc[i][top.feature])


def test_save_load_gives_identical_predictions(fitted, holdout, tmp_path):
    fitted.save(tmp_path / "m")
    loaded = ChurnModel.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict_proba(holdout), fitted.predict_proba(holdout))
    assert loaded.explain(holdout.head(5)) == fitted.explain(holdout.head(5))
    pd.testing.assert_series_equal(loaded.feature_importances(), fitted.feature_importances())


def test_refit_with_same_seed_is_identical(fitted, train, holdout):
    again = ChurnModel().fit(train, FEATURES, SMALL, learner=fitted.learner)
    np.testing.assert_array_equal(again.predict_proba(holdout), fitted.predict_proba(holdout))


def test_feature_importances_are_shares_with_noise_feature_low(fitted):
    imp = fitted.feature_importances()
    assert set(imp.index) == set(FEATURES)
    assert imp.sum() == pytest.approx(1.0)
    assert imp["orders_trend"] > imp["monetary_avg"]


def test_missing_columns_filled_when_few_rejected_when_most(fitted, holdout):
    p = fitted.predict_proba(holdout.drop(columns=["monetary_avg"]))
    assert np.isfinite(p).all()
    with pytest.raises(ValueError, match="lacks 3 of the model's 5 feature columns"):
        fitted.predict_proba(holdout[["recency_days", "frequency"]])


def test_unfitted_model_and_bad_input_raise(train):
    with pytest.raises(NotFittedError):
        ChurnModel().predict_proba(train)
    with pytest.raises(ValueError, match="lacks columns"):
        ChurnModel().fit(train, [*FEATURES, "nope"], SMALL)
    with pytest.raises(ValueError, match="all 0"):
        ChurnModel().fit(train.assign(churned=False), FEATURES, SMALL)


def test_sigmoid_calibration_and_latest_cutoff_validation(train, holdout):
    two_cutoffs = pd.concat([train, synthetic_snapshot(1000, seed=3, as_of=date(2024, 4, 1))])
    config = SMALL.model_copy(update={"calibration": "sigmoid", "validation": "latest_cutoff"})
    model = ChurnModel().fit(two_cutoffs, FEATURES, config)
    assert roc_auc_score(holdout[C.CHURNED], model.predict_proba(holdout)) > 0.7


def test_config_rejects_unknown_keys():
    with pytest.raises(ValueError):
        ChurnModelConfig(n_trees=10)


def test_model_feature_columns_keeps_numeric_behaviour_only(train):
    frame = train.assign(
        first_order_at=pd.Timestamp("2023-01-01"),
        days_to_next_order=3.0,
        censored=False,
        horizon_days=90,
        is_vip=True,
    )
    assert model_feature_columns(frame) == [*FEATURES, "is_vip"]


# --- metrics ------------------------------------------------------------------------------
def test_churn_metrics_hand_computed():
    # 10 rows, 4 churners; the top decile is the single highest score (row 0, a churner).
    y = np.array([1, 0, 1, 0, 1, 0, 0, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    m = churn_metrics(y, p)
    assert list(m) == [
        "roc_auc",
        "pr_auc",
        "brier",
        "log_loss",
        "top_decile_lift",
        "top_decile_capture",
    ]
    # retained rows 1,3,5,6,8,9; churner row 0 outranks 6 of them, row 2: 5, row 4: 4, row 7: 2
    assert m["roc_auc"] == pytest.approx((6 + 5 + 4 + 2) / 24)
    assert m["top_decile_lift"] == pytest.approx(1.0 / 0.4)
    assert m["top_decile_capture"] == pytest.approx(1 / 4)
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert m["log_loss"] == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    # precision at each churner: 1/1, 2/3, 3/5, 4/8
    assert m["pr_auc"] == pytest.approx((1 + 2 / 3 + 3 / 5 + 4 / 8) / 4)


def test_top_decile_rounds_up_and_breaks_ties_by_row_order():
    # n = 11 -> top 2 rows; equal scores keep row order, so rows 0 and 1 are taken.
    y = np.array([0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    s = np.array([5, 5, 5, 1, 1, 1, 1, 1, 1, 1, 0])
    lift, capture = top_fraction_lift_capture(y, s)
    assert capture == pytest.approx(1 / 2)
    assert lift == pytest.approx((1 / 2) / (2 / 11))
    assert set(ranking_metrics(y, s)) == {
        "roc_auc",
        "pr_auc",
        "top_decile_lift",
        "top_decile_capture",
    }


def test_metrics_reject_single_class_and_nan():
    with pytest.raises(ValueError, match="all 3 labels are 0"):
        churn_metrics([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        churn_metrics([0, 1], [0.1, np.nan])
