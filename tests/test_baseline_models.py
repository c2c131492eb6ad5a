"""Simple rules as servable models, the model-vs-rule choice on validation, and plot sizes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnrec import columns as C
from churnrec.columns import Score
from churnrec.models.baseline_models import (
    BTYDChurnBaseline,
    MedianGapRepurchase,
    RecencyChurnBaseline,
)
from churnrec.models.bgnbd import BGNBD
from churnrec.models.churn import btyd_inputs
from churnrec.store import plots
from churnrec.store.packaging import load_model_folder, log_churnrec_model
from churnrec.training.job import Candidate, Metric, choose
from churnrec.training.survival_metrics import MAX_SCATTER_POINTS, predicted_vs_actual_figure

BGNBD_PARAMS = {"r": 0.25, "alpha": 4.4, "a": 0.79, "b": 2.4}  # CDNOW-like, per week


def snapshot(n: int = 50, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(30, 400, n).astype(float)
    recency = np.floor(tenure * rng.uniform(0, 1, n))
    repeats = rng.poisson(2, n).astype(float)
    recency = np.where(repeats == 0, tenure, recency)  # one purchase day: last = first order
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: [f"c{i}" for i in range(n)],
            "recency_days": recency,
            "tenure_days": tenure,
            "repeat_purchase_days": repeats,
        }
    )


def test_btyd_rule_is_one_minus_p_purchase_and_saves_loads(tmp_path: Path) -> None:
    snap = snapshot()
    rule = BTYDChurnBaseline("bgnbd", BGNBD_PARAMS, 90, {"recency_days": 30.0})
    x, tx, age = btyd_inputs(snap)
    expected = 1 - BGNBD.from_params(BGNBD_PARAMS).prob_purchase_within(90 / 7, x, tx, age)
    np.testing.assert_allclose(rule.predict_proba(snap), expected)
    rule.save(tmp_path)
    again = BTYDChurnBaseline.load(tmp_path)
    np.testing.assert_array_equal(again.predict_proba(snap), rule.predict_proba(snap))
    # reasons: moving recency from the reference (30 days) to the customer's own value
    reasons = again.explain(snap, top_k=3)
    assert [r.feature for r in reasons[0]] == ["recency_days"]
    long_ago = int(np.argmax(snap["recency_days"].to_numpy()))
    assert reasons[long_ago][0].contribution > 0  # a long silence pushes towards churn


def test_recency_rule_maps_days_to_a_rising_probability() -> None:
    frame = pd.DataFrame({"recency_days": np.arange(0.0, 200.0)})
    frame[C.CHURNED] = frame["recency_days"] > 90 + 20 * np.sin(frame["recency_days"])
    rule = RecencyChurnBaseline.fit(frame)
    p = rule.predict_proba(frame)
    assert np.all(np.diff(p) > 0) and 0 < p.min() and p.max() < 1
    assert abs(p[90] - 0.5) < 0.1


def test_median_gap_repurchase_by_hand(tmp_path: Path) -> None:
    snap = pd.DataFrame({C.CUSTOMER_ID: ["a", "new"], "recency_days": [5.0, 3.0]})
    rule = MedianGapRepurchase({"a": 20.0}, population_days=12.0, rule="median_gap")
    out = rule.predict(snap)
    assert out[Score.EXPECTED_DAYS_TO_NEXT_ORDER].tolist() == [20.0, 12.0]
    assert out[Score.P_ORDER_7D].iloc[0] == pytest.approx(1 - 2 ** (-7 / 20))
    assert out[Score.P_ORDER_30D].iloc[1] == pytest.approx(1 - 2 ** (-30 / 12))
    remaining = MedianGapRepurchase({"a": 20.0}, 12.0, "gap_remaining")
    assert remaining.expected_days(snap).tolist() == [15.0, 9.0]
    remaining.save(tmp_path)
    assert MedianGapRepurchase.load(tmp_path).expected_days(snap).tolist() == [15.0, 9.0]


def test_a_rule_is_packaged_and_loads_like_a_model(tmp_path: Path) -> None:
    import mlflow

    from churnrec.models.base import ModelKind

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    snap = snapshot(5)
    rule = BTYDChurnBaseline("bgnbd", BGNBD_PARAMS, 90, {"recency_days": 30.0})
    with mlflow.start_run():
        uri = log_churnrec_model(rule, ModelKind.CHURN, input_example=snap)
    folder = Path(
        mlflow.MlflowClient()
        .get_logged_model(uri.removeprefix("models:/"))
        .artifact_location.removeprefix("file://")
    )
    loaded = load_model_folder(folder)
    assert type(loaded) is BTYDChurnBaseline
    np.testing.assert_array_equal(loaded.predict_proba(snap), rule.predict_proba(snap))


@pytest.mark.parametrize(
    ("model_auc", "rule_auc", "chosen"),
    [(0.80, 0.80, "paretonbd"), (0.81, 0.80, "lightgbm"), (0.79, 0.80, "paretonbd")],
)
def test_a_trained_model_must_beat_the_best_rule_on_validation(
    model_auc: float, rule_auc: float, chosen: str
) -> None:
    candidates = [
        Candidate("lightgbm", None, model_auc, is_rule=False),
        Candidate("xgboost", None, model_auc - 0.01, is_rule=False),
        Candidate("recency", None, rule_auc - 0.02, is_rule=True),
        Candidate("paretonbd", None, rule_auc, is_rule=True),
    ]
    assert choose(candidates, Metric("roc_auc")).name == chosen


# --- plots a person can read: bounded sizes, honest axes -----------------------------------------
def within_bounds(fig) -> bool:
    width, height = plots.figure_size_px(fig)
    return width <= plots.MAX_WIDTH_PX and height <= plots.MAX_HEIGHT_PX


def test_every_training_figure_fits_a_laptop_screen() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300).astype(float)
    scores = {name: rng.uniform(size=300) for name in ("model", "recency", "bgnbd", "paretonbd")}
    many_metrics = {
        f"metric_{i}": {"model": 0.5, "popularity": 0.3, "buy_again": 0.4, "als": 0.45}
        for i in range(45)
    }
    importances = pd.Series(rng.uniform(size=60), index=[f"f{i}" for i in range(60)])
    figures = [
        plots.roc_figure(y, scores),
        plots.calibration_figure(y, scores["model"]),
        plots.lift_figure(y, scores),
        plots.importance_figure(importances),
        plots.candidates_figure({f"c{i}": 0.7 + i / 100 for i in range(8)}, "c3"),
        plots.grouped_metrics_figure(many_metrics),
        predicted_vs_actual_figure(rng.integers(0, 300, 300), rng.uniform(1, 300, 300), y > 0),
    ]
    for fig in figures:
        assert within_bounds(fig), plots.figure_size_px(fig)
    # one grouped chart, not one panel per metric
    assert len(figures[5].axes) == 1


def test_predicted_vs_actual_diagonal_is_y_equals_x_on_matching_log_axes() -> None:
    fig = predicted_vs_actual_figure(np.array([1, 10, 100]), np.array([2.0, 8.0, 300.0]), [0, 0, 1])
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    (diagonal,) = [line for line in ax.get_lines() if line.get_label() == "predicted = actual"]
    np.testing.assert_allclose(diagonal.get_xdata(), diagonal.get_ydata())
    assert ax.get_xlim() == ax.get_ylim()
    assert math.isclose(diagonal.get_xdata().max(), 300.0)


def test_big_holdouts_are_drawn_from_bounded_points_with_the_same_curve() -> None:
    rng = np.random.default_rng(1)
    n = 30_000
    y = rng.integers(0, 2, n).astype(float)
    s = y * 0.3 + rng.uniform(size=n)
    (line, _chance) = plots.lift_figure(y, {"model": s}).axes[0].get_lines()
    x_drawn, y_drawn = line.get_xdata(), line.get_ydata()
    assert len(x_drawn) <= plots.MAX_CURVE_POINTS
    gain = np.cumsum(y[np.argsort(-s, kind="stable")]) / y.sum()
    assert (x_drawn[0], x_drawn[-1]) == (1 / n, 1.0) and y_drawn[-1] == 1.0
    np.testing.assert_allclose(y_drawn, gain[np.round(x_drawn * n).astype(int) - 1])
    scatter = predicted_vs_actual_figure(rng.integers(0, 300, n), rng.uniform(1, 300, n), y > 0)
    drawn = sum(len(c.get_offsets()) for c in scatter.axes[0].collections)
    assert drawn == MAX_SCATTER_POINTS
    assert f"of {n:,} rows" in scatter.axes[0].get_title()
