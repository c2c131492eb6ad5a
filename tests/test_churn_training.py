"""The churn job end to end on a tiny generated shop, and the no-peeking rule of its frames."""

from __future__ import annotations

from datetime import date, timedelta

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from churnrec import columns as C
from churnrec.features.db import connect_frames
from churnrec.features.snapshot import build_customer_snapshot
from churnrec.models.churn import BTYDFeatures, ChurnModel, ChurnModelConfig, btyd_feature_names
from churnrec.training.churn import ChurnTrainConfig, add_btyd_features, train_churn
from churnrec.training.datasets import build_training_frames, data_span, model_feature_columns
from churnrec.training.splits import CutoffPlan, plan_cutoffs
from churnrec.workspace import Workspace

START = date(2023, 1, 1)
N_DAYS = 540


def tiny_shop_orders(
    n_customers: int = 400, seed: int = 7, mean_lifetime_days: float = 300
) -> pd.DataFrame:
    """Buy-till-you-die customers: each buys at its own rate until it silently drops out."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_customers):
        first = int(rng.integers(0, 240))
        rate = rng.gamma(1.5, 1 / 40)  # purchases per day
        lifetime = rng.exponential(mean_lifetime_days)
        day = float(first)
        while day < min(first + lifetime, N_DAYS):
            at = pd.Timestamp(START) + pd.Timedelta(days=int(day), hours=int(rng.integers(8, 22)))
            rows.append((f"{i:04d}", at, round(float(rng.gamma(2, 20)), 2)))
            day += rng.exponential(1 / rate)
    orders = pd.DataFrame(rows, columns=[C.CUSTOMER_ID, C.ORDERED_AT, C.AMOUNT])
    orders[C.ORDER_ID] = orders[C.CUSTOMER_ID] + "|" + orders[C.ORDERED_AT].astype(str)
    return orders


# The tiny shop follows the BG/NBD story exactly, so the rules would (rightly) win there; these
# tests study the trained models, so the rules stay out of the candidates.
CONFIG = ChurnTrainConfig(
    horizon_days=60,
    n_train_cutoffs=3,
    step_days=45,
    clv_baselines=["bgnbd"],
    rule_candidates=False,
    logistic_candidate=False,
    model=ChurnModelConfig(n_estimators=60, learning_rate=0.1, early_stopping_rounds=20),
)
# Deliberately crippled: one stump on whatever feature splits first, no BTYD features.
CRIPPLED = CONFIG.model_copy(
    update={
        "btyd_features": [],
        "model": ChurnModelConfig(
            learners=["xgboost"], n_estimators=1, max_depth=1, early_stopping_rounds=None
        ),
    }
)
NEW_DAYS = 30  # the second run sees 30 more days of orders: a new holdout


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    ws = Workspace.at(tmp_path_factory.mktemp("shop"))
    ws.data_dir.mkdir(parents=True)
    orders = tiny_shop_orders(mean_lifetime_days=200)  # BG/NBD fits at every cut-off
    cut = orders[C.ORDERED_AT].max() - pd.Timedelta(days=NEW_DAYS)
    orders[orders[C.ORDERED_AT] <= cut].to_parquet(ws.orders_path, index=False)
    first = train_churn(ws, CONFIG)
    orders.to_parquet(ws.orders_path, index=False)  # new data arrives
    crippled = train_churn(ws, CRIPPLED)
    return ws, first, crippled


def test_job_logs_one_complete_run(trained):
    ws, result, _ = trained
    client = MlflowClient(tracking_uri=ws.tracking_uri)
    run = client.get_run(result.run_id)
    assert client.get_experiment(run.info.experiment_id).name == "churn"
    metrics = run.data.metrics
    for key in [
        "roc_auc",
        "pr_auc",
        "brier",
        "log_loss",
        "top_decile_lift",
        "top_decile_capture",
        "recency_roc_auc",
        "bgnbd_roc_auc",
        "lightgbm_roc_auc",
        "xgboost_roc_auc",
        "ece",
        "val_roc_auc",
        "val_lightgbm_roc_auc",
        "val_xgboost_roc_auc",
    ]:
        assert key in metrics, key
    # the learner is chosen on validation, and the run says which one won there
    chosen = result.chosen
    assert metrics["val_roc_auc"] == max(
        metrics["val_lightgbm_roc_auc"], metrics["val_xgboost_roc_auc"]
    )
    assert metrics["val_roc_auc"] == metrics[f"val_{chosen}_roc_auc"]
    assert metrics["roc_auc"] == pytest.approx(metrics[f"{chosen}_roc_auc"])
    assert metrics["roc_auc"] == pytest.approx(result.metrics["roc_auc"])
    assert run.data.params["chosen"] == result.chosen
    assert run.data.params["horizon_days"] == "60"
    assert run.data.params["model.learning_rate"] == "0.1"
    assert run.data.params["holdout_cutoff"] == result.params["holdout_cutoff"]
    for key in ("train_id", "validation_id", "holdout_id"):
        assert run.data.params[key]
    contexts = sorted(i.tags[0].value for i in run.inputs.dataset_inputs)
    assert contexts == ["holdout", "training", "validation"]
    assert run.data.params["data_training_rows"] == str(int(result.metrics["n_train_rows"]))
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"roc.png", "calibration.png", "importance.png", "lift.png", "candidates.png"} <= (
        artifacts
    )
    assert "features.json" in artifacts


def test_plan_is_three_way_with_training_labels_before_validation(trained):
    ws, result, _ = trained
    last = pd.read_parquet(ws.orders_path)[C.ORDERED_AT].max().date() - timedelta(days=NEW_DAYS)
    holdout = date.fromisoformat(result.params["holdout_cutoff"])
    validation = date.fromisoformat(result.params["validation_cutoff"])
    train_cutoffs = [date.fromisoformat(d) for d in result.params["train_cutoffs"].split(",")]
    assert holdout == last - timedelta(days=60)
    assert validation == holdout - timedelta(days=60)
    assert len(train_cutoffs) == 3
    assert max(train_cutoffs) + timedelta(days=60) <= validation


def test_calibration_adds_no_ties_and_no_certainty(trained):
    from churnrec.store.registry import load_champion

    ws, first, _ = trained
    model = load_champion(ws, "churn").model
    orders = tiny_shop_orders(mean_lifetime_days=200)
    holdout_cutoff = date.fromisoformat(first.params["holdout_cutoff"])
    snapshot = build_customer_snapshot(connect_frames(orders), holdout_cutoff)
    p = model.predict_proba(snapshot)
    margins = model.raw_margin(snapshot)
    # Platt calibration is strictly monotone: customers share a probability only when the trees
    # give them the same margin (isotonic put whole blocks on one value, e.g. exactly 1.0)
    assert len(np.unique(p)) == len(np.unique(margins))
    assert 0 < p.min() and p.max() < 1
    assert first.metrics["max_tied_probability_share"] < 0.05


def test_crippled_model_on_new_data_never_replaces_the_champion(trained):
    from churnrec.store.registry import aliases

    ws, first, crippled = trained
    assert (first.promotion.version, first.promotion.alias) == ("1", "champion")
    assert (
        crippled.params["holdout_cutoff"] > first.params["holdout_cutoff"]
    )  # a new holdout: not like-for-like
    decision = crippled.promotion
    assert (decision.version, decision.alias, decision.promoted) == ("2", "challenger", False)
    # the champion was re-scored on the crippled model's holdout rows and won there
    assert decision.champion_value > decision.value
    assert decision.details["compared_with"] == "1"
    assert float(decision.details["paired_ci_high"]) < 0
    assert "champion kept" in decision.reason
    assert aliases(ws, "churn") == {"champion": "1", "challenger": "2"}
    tags = MlflowClient(tracking_uri=ws.tracking_uri).get_model_version("churn", "2").tags
    assert tags["promotion_decision"] == "challenger"
    assert tags["is_baseline"] == "false"


def test_champion_loads_back_and_scores_like_the_run(trained):
    from churnrec.store.registry import load_champion

    ws, first, _ = trained
    loaded = load_champion(ws, "churn")
    assert isinstance(loaded.model, ChurnModel)
    assert loaded.model.learner == first.chosen
    pyfunc = mlflow.pyfunc.load_model(first.model_uri)
    example = (
        pd.DataFrame({C.CUSTOMER_ID: ["a"], "recency_days": [3.0]})
        .reindex(columns=[C.CUSTOMER_ID, *first.feature_names])
        .astype({f: "float64" for f in first.feature_names})
    )
    out = pyfunc.predict(example)
    assert out["churn_probability"].iloc[0] == pytest.approx(loaded.model.predict_proba(example)[0])


def test_default_job_stacks_bgnbd_features_and_ships_their_fit(trained):
    from churnrec.store.registry import load_champion

    ws, first, _ = trained
    bgnbd = btyd_feature_names(["bgnbd"])
    assert set(bgnbd) <= set(first.feature_names)
    run = MlflowClient(tracking_uri=ws.tracking_uri).get_run(first.run_id)
    assert run.data.params["btyd_features_used"] == "bgnbd"
    model = load_champion(ws, "churn").model
    assert model.btyd is not None and model.btyd.kinds == ["bgnbd"]
    assert model.btyd.horizon_days == 60
    assert not set(bgnbd) & set(model.input_columns)


# --- frames: exact, hand-checked --------------------------------------------------------------
def _orders(rows: list[tuple[str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[C.CUSTOMER_ID, C.ORDERED_AT])
    frame[C.ORDERED_AT] = pd.to_datetime(frame[C.ORDERED_AT])
    return frame


def test_training_labels_never_look_past_the_holdout_cutoff():
    # A buys on 01-01 and 03-15; B only on 01-01; C only on 04-30 (after every cut-off).
    con = connect_frames(
        _orders(
            [("A", "2024-01-01"), ("A", "2024-03-15"), ("B", "2024-01-01"), ("C", "2024-04-30")]
        )
    )
    assert data_span(con) == (date(2024, 1, 1), date(2024, 4, 30))
    plan = CutoffPlan(
        train_cutoffs=(date(2024, 1, 31),),
        holdout_cutoff=date(2024, 3, 1),
        horizon_days=30,
        observed_until=date(2024, 4, 30),
    )
    frames = build_training_frames(con, plan)
    train = frames.train.set_index(C.CUSTOMER_ID)
    assert list(train.index) == ["A", "B"]
    # A's next order (03-15) is after the holdout cut-off: the training label must not see it.
    assert bool(train.loc["A", C.CHURNED]) is True
    assert bool(train.loc["A", C.CENSORED]) is True
    assert train.loc["A", C.DAYS_TO_NEXT_ORDER] == 30
    holdout = frames.holdout.set_index(C.CUSTOMER_ID)
    assert list(holdout.index) == ["A", "B"]
    assert bool(holdout.loc["A", C.CHURNED]) is False
    assert holdout.loc["A", C.DAYS_TO_NEXT_ORDER] == 14
    assert bool(holdout.loc["B", C.CHURNED]) is True
    features = model_feature_columns(frames.train)
    assert "recency_days" in features and "frequency" in features
    assert not {C.CUSTOMER_ID, C.AS_OF, C.CHURNED, C.CENSORED, "first_order_at"} & set(features)


# --- stacked BTYD features: point in time ------------------------------------------------------
def test_btyd_features_at_each_cutoff_use_only_orders_up_to_it():
    # Short lifetimes, so that dropout is identified and BG/NBD fits at every cut-off.
    orders = tiny_shop_orders(mean_lifetime_days=120)
    plan = CutoffPlan(
        train_cutoffs=(date(2023, 6, 1), date(2023, 8, 1)),
        holdout_cutoff=date(2023, 12, 1),
        horizon_days=60,
        observed_until=date(2024, 1, 30),
    )
    # Orders after the holdout cut-off change holdout labels, never any cut-off's features.
    later = orders[orders[C.ORDERED_AT] >= pd.Timestamp("2023-12-02")]
    extra = later.assign(**{C.ORDER_ID: later[C.ORDER_ID] + "+"})
    columns = btyd_feature_names(["bgnbd"])
    out = []
    for data in (orders, pd.concat([orders, extra], ignore_index=True)):
        frames, latest, _ = add_btyd_features(
            build_training_frames(connect_frames(data), plan), ["bgnbd"], 60
        )
        out.append((frames, latest))
    (a, fit_a), (b, fit_b) = out
    pd.testing.assert_frame_equal(a.train[columns], b.train[columns])
    pd.testing.assert_frame_equal(a.holdout[columns], b.holdout[columns])
    assert fit_a.to_json() == fit_b.to_json()
    # Each training cut-off's rows equal a fit on the orders up to that cut-off alone.
    for as_of in plan.train_cutoffs:
        past = orders[orders[C.ORDERED_AT] < pd.Timestamp(as_of) + pd.Timedelta(days=1)]
        snap = build_customer_snapshot(connect_frames(past), as_of)
        alone, failed = BTYDFeatures.fit(snap, ["bgnbd"], 60)
        assert failed == {}
        rows = a.train[pd.to_datetime(a.train[C.AS_OF]) == pd.Timestamp(as_of)]
        np.testing.assert_array_equal(
            rows[columns].to_numpy(), alone.transform(snap)[columns].to_numpy()
        )
    # The holdout rows are what the carried fit computes from the holdout snapshot.
    np.testing.assert_array_equal(
        a.holdout[columns].to_numpy(), fit_a.transform(a.holdout)[columns].to_numpy()
    )


def test_btyd_features_left_out_everywhere_when_a_fit_fails(capsys):
    # Nobody buys on two days before the first cut-off: BG/NBD cannot be fitted there.
    con = connect_frames(
        _orders(
            [
                ("A", "2024-01-01"),
                ("B", "2024-01-02"),
                ("A", "2024-02-10"),
                ("B", "2024-03-20"),
                ("A", "2024-04-25"),
            ]
        )
    )
    plan = CutoffPlan(
        train_cutoffs=(date(2024, 1, 31),),
        holdout_cutoff=date(2024, 3, 1),
        horizon_days=30,
        observed_until=date(2024, 4, 30),
    )
    frames = build_training_frames(con, plan)
    same, latest, _ = add_btyd_features(frames, ["bgnbd"], 30)
    assert latest is None
    assert same is frames
    assert "bgnbd features left out (fit at 2024-01-31 failed" in capsys.readouterr().err


def test_training_rows_are_capped_per_cutoff_and_the_cap_is_recorded(tmp_path) -> None:
    ws = Workspace.at(tmp_path)
    ws.data_dir.mkdir(parents=True)
    tiny_shop_orders(mean_lifetime_days=200).to_parquet(ws.orders_path, index=False)
    config = CONFIG.model_copy(
        update={"max_train_customers_per_cutoff": 50, "btyd_fit_customers": 120}
    )
    result = train_churn(ws, config)
    assert (
        result.metrics["n_train_rows"] == 3 * 50
    )  # every training cut-off has more than 50 customers
    params = MlflowClient(tracking_uri=ws.tracking_uri).get_run(result.run_id).data.params
    assert params["max_train_customers_per_cutoff"] == "50"
    assert params["btyd_fit_customers"] == "120"
    assert params["data_training_rows"] == "150"
    assert int(params["train_rows_before_sample"]) > 3 * 50
    assert int(params["data_holdout_rows"]) == result.metrics["n_holdout_rows"] > 50  # all


def test_btyd_rules_reuse_the_features_fit_with_the_same_parameters() -> None:
    """The holdout baselines and validation rules take the BTYD features' fit at their cut-off
    instead of fitting again: it must be the very fit a fresh one gives (same rows, sample, seed)."""
    from churnrec.models.baseline_models import BTYDChurnBaseline
    from churnrec.training.churn import _btyd_rule

    con = connect_frames(tiny_shop_orders(n_customers=300))
    first, last = data_span(con)
    plan = plan_cutoffs(first, last, 60, n_train_cutoffs=2, step_days=45)
    frames, at_holdout, at_validation = add_btyd_features(
        build_training_frames(con, plan), ["bgnbd", "paretonbd"], 60, fit_customers=150
    )
    for rows, fitted in ((frames.holdout, at_holdout), (frames.validation, at_validation)):
        for kind in ("bgnbd", "paretonbd"):
            reused = _btyd_rule(rows, kind, 60, 150, fitted)
            fresh = BTYDChurnBaseline.fit(rows, kind, 60, max_customers=150)
            assert reused.model.params == fresh.model.params
            np.testing.assert_array_equal(reused.predict_proba(rows), fresh.predict_proba(rows))
