"""Repurchase AFT model and the censoring-aware metrics: hand-computed cases and behaviour."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from churnrec import columns as C
from churnrec.columns import Score
from churnrec.models.repurchase import (
    PREDICTION_COLUMNS,
    RepurchaseModel,
    RepurchaseModelConfig,
    aft_cdf,
)
from churnrec.training.survival_metrics import (
    calibration_table,
    concordance_index,
    expected_calibration_error,
    mae_uncensored,
    p30_calibration,
    repurchase_metrics,
    window_outcome,
)

FEATURES = ["gap_median", "engagement", "noise"]
FAST = RepurchaseModelConfig(
    num_boost_round=80,
    distribution_scale=0.5,
    learning_rate=0.1,
    max_depth=3,
    n_threads=1,
    early_stopping_rounds=None,
)


# --- metrics: hand cases ------------------------------------------------------------------
def test_concordance_hand_case_with_censoring() -> None:
    # customer: time, censored, predicted
    # A: 2 observed, pred 3 | B: 4 observed, pred 5 | C: 4 censored, pred 2
    # D: 6 observed, pred 4 | E: 8 censored, pred 9
    # comparable pairs (earlier one observed):
    #   A<B (3<5 ok), A<C (3>2 no), A<D (3<4 ok), A<E (ok)
    #   B vs C: same day, C censored -> comparable, 5>2 no; B<D (5>4 no), B<E (ok)
    #   D<E (ok).  C is censored, so never the earlier one.
    # 8 comparable, 5 concordant -> 5/8
    t = [2, 4, 4, 6, 8]
    cens = [False, False, True, False, True]
    pred = [3, 5, 2, 4, 9]
    assert concordance_index(t, pred, cens) == pytest.approx(5 / 8)


def test_concordance_ties_and_no_comparable_pairs() -> None:
    # two observed orders on the same day are not comparable; tied predictions count 1/2
    assert concordance_index([3, 3, 5], [1, 2, 1], [False, False, True]) == pytest.approx(
        (0.5 + 0) / 2  # (0,2): tie 1/2; (1,2): 2>1 discordant
    )
    assert math.isnan(concordance_index([1, 2], [1, 2], [True, True]))
    assert concordance_index([1, 2, 3], [10, 20, 30], [False] * 3) == 1.0
    assert concordance_index([1, 2, 3], [30, 20, 10], [False] * 3) == 0.0


def test_concordance_matches_brute_force_on_random_data() -> None:
    rng = np.random.default_rng(3)
    t = rng.integers(0, 12, 80).astype(float)
    pred = rng.integers(0, 9, 80).astype(float)
    cens = rng.random(80) < 0.4
    num = den = 0.0
    for i in range(80):
        for j in range(80):
            if i != j and not cens[i] and (t[i] < t[j] or (t[i] == t[j] and cens[j])):
                den += 1
                num += 1.0 if pred[i] < pred[j] else 0.5 if pred[i] == pred[j] else 0.0
    assert concordance_index(t, pred, cens) == pytest.approx(num / den)


def test_mae_ignores_censored_rows() -> None:
    # observed: |2-3| + |6-4| = 3 over 2 rows; the censored 4 vs 100 is left out
    assert mae_uncensored([2, 4, 6], [3, 100, 4], [False, True, False]) == pytest.approx(1.5)
    assert math.isnan(mae_uncensored([2], [3], [True]))


def test_p30_calibration_uses_only_known_windows() -> None:
    t = np.array([10, 40, 20, 50, 30])
    cens = np.array([False, False, True, True, False])
    p = np.array([0.8, 0.3, 0.9, 0.1, 0.6])
    # known: row0 ordered (10<=30), row1 not (observed at 40), row2 unknown (censored at 20),
    # row3 not (followed 50 days), row4 ordered on day 30
    outcome = window_outcome(t, cens, 30)
    assert outcome.mask.tolist() == [True, True, False, True, True]
    assert outcome.ordered.tolist() == [True, False, False, True]
    brier, ece, table = p30_calibration(t, p, cens)
    assert brier == pytest.approx(((0.8 - 1) ** 2 + 0.3**2 + 0.1**2 + (0.6 - 1) ** 2) / 4)
    # 4 rows in up to 10 bins -> one row per bin: ECE = mean |p - y|
    assert ece == pytest.approx((0.2 + 0.3 + 0.1 + 0.4) / 4)
    assert table["n"].sum() == 4


def test_p30_calibration_without_a_known_window_is_undefined_not_an_error() -> None:
    # every customer censored before day 30: nobody's 30-day outcome is known
    brier, ece, table = p30_calibration(
        np.array([5, 12]), np.array([0.4, 0.7]), np.array([True, True])
    )
    assert math.isnan(brier) and math.isnan(ece)
    assert table.empty


def test_ece_over_deciles() -> None:
    p = np.repeat([0.1, 0.9], 10)
    y = np.array([0] * 9 + [1] + [1] * 5 + [0] * 5, dtype=float)
    table = calibration_table(p, y, n_bins=2)
    assert table["observed_rate"].tolist() == [0.1, 0.5]
    assert expected_calibration_error(p, y, n_bins=2) == pytest.approx(0.5 * 0 + 0.5 * 0.4)


def test_repurchase_metrics_keys() -> None:
    m = repurchase_metrics(
        [2, 4, 40], [False, True, False], [3, 5, 30], p_order_30d=[0.9, 0.5, 0.2]
    )
    assert set(m) == {"concordance", "mae_days", "p30_brier", "p30_ece"}


def test_aft_cdf_extreme_matches_weibull_form() -> None:
    z = np.array([-1.0, 0.0, 1.0])
    assert aft_cdf(z, "extreme") == pytest.approx(1 - np.exp(-np.exp(z)))
    assert aft_cdf(np.array([0.0]), "normal")[0] == pytest.approx(0.5)


# --- model behaviour on synthetic survival data -----------------------------------------
def synthetic(n: int = 1500, seed: int = 0, censor_at: float | None = None) -> pd.DataFrame:
    """Days to next order ~ median gap, shortened by engagement; ~30% right-censored."""
    rng = np.random.default_rng(seed)
    gap_median = rng.uniform(10, 120, n)
    engagement = rng.uniform(0, 1, n)
    true_days = gap_median * np.exp(-1.5 * engagement + rng.normal(0, 0.4, n))
    follow_up = rng.uniform(5, 110, n) if censor_at is None else np.full(n, censor_at)
    censored = true_days > follow_up
    days = np.ceil(np.where(censored, follow_up, true_days))
    return pd.DataFrame(
        {
            "gap_median": gap_median,
            "engagement": engagement,
            "noise": rng.normal(size=n),
            C.DAYS_TO_NEXT_ORDER: days,
            C.CENSORED: censored,
            "true_days": true_days,
        }
    )


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return synthetic(seed=0)


@pytest.fixture(scope="module")
def test_frame() -> pd.DataFrame:
    return synthetic(n=800, seed=1)


@pytest.fixture(scope="module")
def model(train: pd.DataFrame) -> RepurchaseModel:
    return RepurchaseModel.fit(train, FEATURES, FAST)


def test_synthetic_data_is_partly_censored(train: pd.DataFrame) -> None:
    assert 0.2 < train[C.CENSORED].mean() < 0.45


def test_model_beats_median_gap_baseline(model: RepurchaseModel, test_frame: pd.DataFrame) -> None:
    pred = model.predict(test_frame)
    t, cens = test_frame[C.DAYS_TO_NEXT_ORDER], test_frame[C.CENSORED]
    c_model = concordance_index(t, pred[Score.EXPECTED_DAYS_TO_NEXT_ORDER], cens)
    c_baseline = concordance_index(t, test_frame["gap_median"], cens)
    assert c_model > c_baseline + 0.05
    assert c_model > 0.75
    metrics = repurchase_metrics(
        t, cens, pred[Score.EXPECTED_DAYS_TO_NEXT_ORDER], pred[Score.P_ORDER_30D]
    )
    assert metrics["p30_ece"] < 0.1


def test_predictions_shape_monotone_and_bounded(
    model: RepurchaseModel, test_frame: pd.DataFrame
) -> None:
    shuffled = test_frame.sample(frac=1.0, random_state=0)
    pred = model.predict(shuffled)
    assert list(pred.columns) == list(PREDICTION_COLUMNS)
    assert pred.index.equals(shuffled.index)
    assert (
        (
            (pred[[Score.P_ORDER_7D, Score.P_ORDER_30D, Score.P_ORDER_90D]] >= 0)
            & (pred[[Score.P_ORDER_7D, Score.P_ORDER_30D, Score.P_ORDER_90D]] <= 1)
        )
        .all()
        .all()
    )
    assert (pred[Score.P_ORDER_7D] <= pred[Score.P_ORDER_30D]).all()
    assert (pred[Score.P_ORDER_30D] <= pred[Score.P_ORDER_90D]).all()
    assert (pred[Score.EXPECTED_DAYS_TO_NEXT_ORDER] > 0).all()
    # at the median the predicted probability of having ordered is one half
    mid = model.p_order_within(
        shuffled.iloc[:1], float(pred[Score.EXPECTED_DAYS_TO_NEXT_ORDER].iloc[0])
    )
    assert mid[0] == pytest.approx(0.5, abs=1e-6)
    # engagement shortens the wait: the most engaged half is predicted sooner
    engaged = shuffled["engagement"] > 0.5
    assert (
        pred.loc[engaged, Score.EXPECTED_DAYS_TO_NEXT_ORDER].median()
        < pred.loc[~engaged, Score.EXPECTED_DAYS_TO_NEXT_ORDER].median()
    )


@pytest.mark.parametrize("distribution", ["logistic", "extreme"])
def test_other_distributions_give_consistent_probabilities(
    distribution: str, train: pd.DataFrame, test_frame: pd.DataFrame
) -> None:
    config = FAST.model_copy(update={"distribution": distribution, "num_boost_round": 30})
    m = RepurchaseModel.fit(train, FEATURES, config)
    pred = m.predict(test_frame.iloc[:50])
    assert (pred[Score.P_ORDER_7D] <= pred[Score.P_ORDER_90D]).all()
    mid = m.p_order_within(
        test_frame.iloc[:1], float(pred[Score.EXPECTED_DAYS_TO_NEXT_ORDER].iloc[0])
    )
    assert mid[0] == pytest.approx(0.5, abs=1e-6)


def test_censored_rows_are_used_not_dropped() -> None:
    # everyone followed only 25 days: most are censored at 25
    frame = synthetic(n=1000, seed=2, censor_at=25.0)
    assert frame[C.CENSORED].mean() > 0.5
    with_censored = RepurchaseModel.fit(frame, FEATURES, FAST)
    observed_only = RepurchaseModel.fit(frame[~frame[C.CENSORED]], FEATURES, FAST)
    censored_rows = frame[frame[C.CENSORED]]
    pred_with = with_censored.predict(censored_rows)[Score.EXPECTED_DAYS_TO_NEXT_ORDER]
    pred_without = observed_only.predict(censored_rows)[Score.EXPECTED_DAYS_TO_NEXT_ORDER]
    # censored customers waited at least 25 days: a model that learned from them says so,
    # one trained on observed orders only (all <= 25 days) cannot
    assert pred_with.mean() > 25
    assert pred_without.mean() < 25
    assert not np.allclose(pred_with, pred_without)


def test_save_load_gives_identical_predictions(
    model: RepurchaseModel, test_frame: pd.DataFrame, tmp_path
) -> None:
    model.save(tmp_path / "m")
    loaded = RepurchaseModel.load(tmp_path / "m")
    pd.testing.assert_frame_equal(model.predict(test_frame), loaded.predict(test_frame))
    assert loaded.feature_names == FEATURES
    assert loaded.config == model.config


def test_fit_is_deterministic(train: pd.DataFrame, test_frame: pd.DataFrame) -> None:
    config = FAST.model_copy(update={"subsample": 0.8, "num_boost_round": 30})
    a = RepurchaseModel.fit(train, FEATURES, config).predict(test_frame)
    b = RepurchaseModel.fit(train, FEATURES, config).predict(test_frame)
    pd.testing.assert_frame_equal(a, b)


def test_early_stopping_keeps_best_iteration(
    train: pd.DataFrame, test_frame: pd.DataFrame, tmp_path
) -> None:
    config = FAST.model_copy(
        update={"num_boost_round": 400, "learning_rate": 0.3, "early_stopping_rounds": 5}
    )
    m = RepurchaseModel.fit(train, FEATURES, config, valid_frame=test_frame)
    assert m.n_trees < 400
    m.save(tmp_path / "es")
    pd.testing.assert_frame_equal(
        m.predict(test_frame), RepurchaseModel.load(tmp_path / "es").predict(test_frame)
    )


def test_bad_input_is_reported_by_column(train: pd.DataFrame, model: RepurchaseModel) -> None:
    with pytest.raises(ValueError, match="engagement"):
        model.predict(train.drop(columns=["engagement"]))
    with pytest.raises(ValueError, match=C.CENSORED):
        RepurchaseModel.fit(train.drop(columns=[C.CENSORED]), FEATURES, FAST)
    bad = train.copy()
    bad.loc[bad.index[3], C.DAYS_TO_NEXT_ORDER] = -1
    with pytest.raises(ValueError, match="negative"):
        RepurchaseModel.fit(bad, FEATURES, FAST)
    with pytest.raises(ValueError):
        RepurchaseModelConfig(distribution="weibull")
    with pytest.raises(ValueError):
        RepurchaseModelConfig(n_estimators=10)


def test_days_are_the_median_of_the_served_probabilities(model, test_frame) -> None:
    """One distribution: P(order within the served days) is one half, so the days are under
    90 exactly when P(order within 90 days) is over one half."""
    out = model.predict(test_frame)
    days = out[Score.EXPECTED_DAYS_TO_NEXT_ORDER].to_numpy()
    p90 = out[Score.P_ORDER_90D].to_numpy()
    mu = model.predict_mu(test_frame)
    at_days = np.array([model._cdf(mu[i : i + 1], d)[0] for i, d in enumerate(days[:50])])
    np.testing.assert_allclose(at_days, 0.5, atol=1e-6)
    assert ((days < 90) == (p90 > 0.5)).all()
    assert (days < 90).any() and (days >= 90).any()
