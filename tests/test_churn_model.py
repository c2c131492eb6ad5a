"""ChurnModel: learns a signal beyond recency, stays monotone in recency, explains, round-trips,
repeats exactly; churn_metrics on hand-computed cases."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from churnrec import columns as C
from churnrec.models.base import NotFittedError
from churnrec.models.churn import (
    BIAS,
    BTYDFeatures,
    ChurnModel,
    ChurnModelConfig,
    Reason,
    btyd_feature_names,
    btyd_inputs,
)
from churnrec.training.churn_metrics import (
    churn_metrics,
    ranking_metrics,
    recency_rule_scores,
    top_fraction_lift_capture,
)
from churnrec.training.datasets import model_feature_columns

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


def test_external_validation_frame_calibrates_without_a_cliff(train, holdout):
    # the validation cut-off's rows stop early and calibrate; every training row is fitted on
    model = ChurnModel().fit(train, FEATURES, SMALL, valid_frame=holdout)
    assert model.config.calibration == "sigmoid"
    p = model.predict_proba(holdout)
    margins = model.raw_margin(holdout)
    assert len(np.unique(p)) == len(np.unique(margins))  # calibration adds no ties
    assert 0 < p.min() and p.max() < 1
    # Platt on the validation rows: their mean probability matches their churn rate
    assert p.mean() == pytest.approx(holdout[C.CHURNED].mean(), abs=0.02)
    isotonic = ChurnModel().fit(
        train, FEATURES, SMALL.model_copy(update={"calibration": "isotonic"}), valid_frame=holdout
    )
    q = isotonic.predict_proba(holdout)
    assert pd.Series(q).value_counts().max() > pd.Series(p).value_counts().max()


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


# --- BTYD (stacked) features ------------------------------------------------------------
def btyd_shop_orders(n_customers: int = 300, seed: int = 5) -> pd.DataFrame:
    """Customers buying at their own Poisson rate until they drop out; some same-day repeats."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_customers):
        day = float(rng.integers(0, 120))
        end = day + rng.exponential(200)
        rate = rng.gamma(1.5, 1 / 30)
        while day < min(end, 400):
            at = pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(day), hours=9)
            rows.append((f"c{i:03d}", at))
            if rng.random() < 0.1:  # a second order the same day: one purchase day for BTYD
                rows.append((f"c{i:03d}", at + pd.Timedelta(hours=3)))
            day += rng.exponential(1 / rate)
    orders = pd.DataFrame(rows, columns=[C.CUSTOMER_ID, C.ORDERED_AT])
    orders[C.ORDER_ID] = [f"o{k}" for k in range(len(orders))]
    return orders


def _snapshot(orders: pd.DataFrame, as_of: date) -> pd.DataFrame:
    from churnrec.features.db import connect_frames
    from churnrec.features.snapshot import build_customer_snapshot

    return build_customer_snapshot(connect_frames(orders), as_of)


def test_btyd_inputs_hand_computed():
    # a: first buy 30 days ago, last 10 days ago, 2 repeat days over 20 days;
    # b: bought once (no repeat); c: recency unknown -> NaN.
    snap = pd.DataFrame(
        {
            "recency_days": [10.0, 14.0, np.nan],
            "tenure_days": [30.0, 14.0, 50.0],
            "repeat_purchase_days": [2, 0, 0],
        }
    )
    x, tx, age = btyd_inputs(snap)
    np.testing.assert_array_equal(x, [2.0, 0.0, np.nan])
    np.testing.assert_allclose(tx, [20 / 7, 0.0, np.nan])
    np.testing.assert_allclose(age, [30 / 7, 2.0, 50 / 7])
    with pytest.raises(ValueError, match="repeat_purchase_days"):
        btyd_inputs(snap.drop(columns=["repeat_purchase_days"]))


def test_btyd_features_at_a_cutoff_ignore_later_orders():
    orders = btyd_shop_orders()
    as_of = date(2023, 6, 1)
    later = pd.DataFrame(
        {
            C.CUSTOMER_ID: ["c000", "c001", "new"],
            C.ORDERED_AT: pd.to_datetime(["2023-06-02", "2024-02-01", "2023-07-01"]),
            C.ORDER_ID: ["x1", "x2", "x3"],
        }
    )
    features = []
    for data in (orders, pd.concat([orders, later], ignore_index=True)):
        snap = _snapshot(data, as_of)
        fitted, failed = BTYDFeatures.fit(snap, ["bgnbd", "paretonbd"], horizon_days=60)
        assert failed == {}
        features.append(fitted.transform(snap).set_axis(snap[C.CUSTOMER_ID]))
    pd.testing.assert_frame_equal(features[0], features[1])
    assert list(features[0].columns) == btyd_feature_names(["bgnbd", "paretonbd"])
    values = features[0].to_numpy()
    assert np.isfinite(values).all()
    assert ((values[:, [0, 1, 3, 4]] >= 0) & (values[:, [0, 1, 3, 4]] <= 1)).all()


def test_btyd_fit_failure_is_reported_not_raised():
    one_purchase_each = pd.DataFrame(
        {"recency_days": [5.0, 9.0], "tenure_days": [5.0, 9.0], "repeat_purchase_days": [0, 0]}
    )
    fitted, failed = BTYDFeatures.fit(one_purchase_each, ["bgnbd"], horizon_days=30)
    assert fitted.kinds == [] and fitted.columns == []
    assert "repeat purchase" in failed["bgnbd"]


@pytest.fixture(scope="module")
def btyd_frames() -> tuple[pd.DataFrame, pd.DataFrame, BTYDFeatures]:
    """Training rows with features from their own cut-off's fit; the holdout's fit to carry."""
    orders = btyd_shop_orders(600)
    parts = []
    for as_of in (date(2023, 5, 1), date(2023, 9, 1)):
        snap = _snapshot(orders, as_of)
        start = pd.Timestamp(as_of) + pd.Timedelta(days=1)
        window = orders[C.ORDERED_AT].between(start, start + pd.Timedelta(days=90), "left")
        snap[C.CHURNED] = ~snap[C.CUSTOMER_ID].isin(orders.loc[window, C.CUSTOMER_ID])
        fitted, _ = BTYDFeatures.fit(snap, ["bgnbd"], horizon_days=90)
        parts.append(pd.concat([snap, fitted.transform(snap)], axis=1))
    holdout = _snapshot(orders, date(2023, 12, 1))
    latest, _ = BTYDFeatures.fit(holdout, ["bgnbd"], horizon_days=90)
    return pd.concat(parts, ignore_index=True), holdout, latest


def test_btyd_model_derives_its_features_and_round_trips(btyd_frames, tmp_path):
    train, holdout, latest = btyd_frames
    features = ["recency_days", "frequency", "tenure_days", "repeat_purchase_days", *latest.columns]
    model = ChurnModel().fit(train, features, SMALL, "lightgbm", btyd=latest)
    assert model.input_columns == [
        "recency_days",
        "frequency",
        "tenure_days",
        "repeat_purchase_days",
    ]
    p = model.predict_proba(holdout)
    # the model computes the BTYD columns itself with its own fit, whatever the input carries
    own = pd.concat([holdout, latest.transform(holdout)], axis=1)
    np.testing.assert_array_equal(model.predict_proba(own), p)
    stale = holdout.assign(**{c: 0.5 for c in latest.columns})
    np.testing.assert_array_equal(model.predict_proba(stale), p)
    reasons = model.explain(holdout.head(20), top_k=len(features))
    value = {r.feature: r.value for r in reasons[0]}
    assert value["bgnbd_p_alive"] == pytest.approx(own["bgnbd_p_alive"].iloc[0])

    model.save(tmp_path / "m")
    loaded = ChurnModel.load(tmp_path / "m")
    assert loaded.btyd.to_json() == latest.to_json()
    np.testing.assert_array_equal(loaded.predict_proba(holdout), p)
    assert loaded.explain(holdout.head(5)) == model.explain(holdout.head(5))
    # one row on its own scores as in the batch (no population needed at serving time)
    assert loaded.predict_proba(holdout.iloc[[7]])[0] == p[7]


def test_more_recent_purchase_never_raises_churn_with_btyd_features(btyd_frames):
    """The behaviour guarantee holds with the stacked BG/NBD features too (all else equal)."""
    train, holdout, latest = btyd_frames
    features = ["recency_days", "frequency", "tenure_days", "repeat_purchase_days", *latest.columns]
    model = ChurnModel().fit(train, features, SMALL, "lightgbm", btyd=latest)
    rows = holdout[holdout["repeat_purchase_days"] > 0].head(200)
    previous = None
    for days in [0, 1, 3, 7, 14, 30, 60, 90, 120, 180, 270, 365]:
        p = model.predict_proba(rows.assign(recency_days=np.minimum(days, rows["tenure_days"])))
        if previous is not None:
            assert (p >= previous - 1e-12).all(), f"P(churn) fell when recency grew to {days} days"
        previous = p


def test_btyd_columns_must_be_features(btyd_frames):
    train, _, latest = btyd_frames
    with pytest.raises(ValueError, match="not in feature_names"):
        ChurnModel().fit(train, ["recency_days", "frequency"], SMALL, btyd=latest)


def test_model_without_btyd_reads_only_its_features(fitted, holdout, tmp_path):
    assert fitted.btyd is None
    assert fitted.input_columns == FEATURES
    fitted.save(tmp_path / "plain")
    loaded = ChurnModel.load(tmp_path / "plain")
    assert loaded.btyd is None
    # no repeat_purchase_days in this snapshot: nothing BTYD is computed or needed
    np.testing.assert_array_equal(loaded.predict_proba(holdout), fitted.predict_proba(holdout))


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
