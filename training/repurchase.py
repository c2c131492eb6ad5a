"""The `repurchase` training job: the AFT time-to-next-order model against the median-gap rule.

Either serves as one distribution (days = its median, probabilities = its CDF), so the served
answers never contradict each other.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from pydantic import Field

from churnrec import columns as C
from churnrec.columns import Feature, Score
from churnrec.features.db import connect
from churnrec.models.base import ModelKind
from churnrec.models.baseline_models import MedianGapRepurchase
from churnrec.models.repurchase import RepurchaseModel, RepurchaseModelConfig
from churnrec.progress import stage
from churnrec.training import survival_metrics as sm
from churnrec.training.datasets import (
    fold_ids,
    model_feature_columns,
)
from churnrec.training.errors import SkippedTraining
from churnrec.training.job import (
    Candidate,
    Evaluation,
    JobSpec,
    Metric,
    SnapshotTrainConfig,
    choose,
    run_job,
    snapshot_frames,
)
from churnrec.training.minimum_data import MinimumData
from churnrec.training.promotion import REPURCHASE_GUARDS
from churnrec.workspace import Workspace

EXPERIMENT = ModelKind.REPURCHASE.value
PROMOTION_METRIC = sm.CONCORDANCE
BASELINE = "baseline"  # metrics logged as baseline_concordance, baseline_mae_days
GAP_REMAINING = "gap_remaining"  # logged as gap_remaining_concordance, gap_remaining_mae_days
MEDIAN_GAP_DAYS = "median_gap_days"
MEDIAN_GAP = "median_gap"  # the served days rule's name
LABELS = (C.DAYS_TO_NEXT_ORDER, C.CENSORED)
VALID_FRACTION = 0.15  # customers held out of training for early stopping only
CALIBRATION_PNG = "p30_calibration.png"
PRED_VS_ACTUAL_PNG = "predicted_vs_actual.png"
CALIBRATION_JSON = "p30_calibration.json"


class RepurchaseTrainConfig(SnapshotTrainConfig):
    """What `churnrec train repurchase` does; the `repurchase:` section of the config file."""

    model: RepurchaseModelConfig = Field(default_factory=RepurchaseModelConfig)
    minimum_data: MinimumData = Field(
        default_factory=lambda: MinimumData(customers=30, history_days=90, positives=30),
        description="checked before training (training.minimum_data); positives: observed next orders on the training cut-offs",
    )


# --- baseline ---------------------------------------------------------------------------
def median_gap_days(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Per repeat customer: median days between distinct order days up to T (point in time); the
    snapshot only carries the mean gap, which long pauses inflate."""
    from churnrec.features.sql import cutoff_params

    query = f"""WITH days AS (
    SELECT DISTINCT {C.CUSTOMER_ID} AS customer_id, CAST({C.ORDERED_AT} AS DATE) AS d
    FROM {C.ORDERS}
    WHERE {C.ORDERED_AT} < $end AND NOT COALESCE({C.IS_RETURN}, FALSE)
      AND {C.CUSTOMER_ID} IS NOT NULL
),
gaps AS (
    SELECT customer_id,
        date_diff('day', LAG(d) OVER (PARTITION BY customer_id ORDER BY d), d) AS gap
    FROM days
)
SELECT customer_id, CAST(MEDIAN(gap) AS DOUBLE) AS {MEDIAN_GAP_DAYS}
FROM gaps WHERE gap IS NOT NULL GROUP BY customer_id ORDER BY customer_id"""
    return con.execute(query, {"end": cutoff_params(as_of)["end"]}).df()


def median_gap_baseline(
    con: duckdb.DuckDBPyConnection, as_of: date, customer_ids: pd.Series, fallback_days: float
) -> np.ndarray:
    """Baseline days to next order: the customer's median past gap (see `gap_rule`)."""
    rule = gap_rule(con, as_of, MEDIAN_GAP, fallback_days)
    return rule.expected_days(pd.DataFrame({C.CUSTOMER_ID: customer_ids.to_numpy()}))


def gap_remaining_days(median_gap: np.ndarray, recency_days: np.ndarray) -> np.ndarray:
    """Second baseline: what is left of the usual gap since the last order, at least one day."""
    return np.maximum(np.asarray(median_gap, float) - np.asarray(recency_days, float), 1.0)


# --- helpers ----------------------------------------------------------------------------
def split_validation(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out ~15% of customers (all their cut-offs) for early stopping; deterministic."""
    customers = np.sort(frame[C.CUSTOMER_ID].astype(str).unique())
    n_valid = round(len(customers) * VALID_FRACTION)
    if n_valid == 0 or n_valid == len(customers):
        return frame, frame.iloc[0:0]
    rng = np.random.default_rng(seed)
    valid_ids = set(rng.choice(customers, size=n_valid, replace=False))
    is_valid = frame[C.CUSTOMER_ID].astype(str).isin(valid_ids)
    return frame[~is_valid], frame[is_valid]


def fit_model(
    train: pd.DataFrame,
    features: list[str],
    config: RepurchaseModelConfig,
    validation: pd.DataFrame | None = None,
) -> tuple[RepurchaseModel, int]:
    """Fit on the training cut-offs, stopping on the validation cut-off; without one, on ~15% of
    customers and then refitted on all rows. Returns the model and its trees."""
    if config.early_stopping_rounds is None:
        return RepurchaseModel.fit(train, features, config), config.num_boost_round
    if validation is not None and len(validation):
        model = RepurchaseModel.fit(train, features, config, valid_frame=validation)
        return model, model.n_trees
    fit_part, valid_part = split_validation(train, config.seed)
    if valid_part.empty:
        return RepurchaseModel.fit(train, features, config), config.num_boost_round
    probe = RepurchaseModel.fit(fit_part, features, config, valid_frame=valid_part)
    final_config = config.model_copy(
        update={"num_boost_round": probe.n_trees, "early_stopping_rounds": None}
    )
    return RepurchaseModel.fit(train, features, final_config), probe.n_trees


def gap_rule(
    con: duckdb.DuckDBPyConnection, as_of: date, rule: str, fallback_days: float
) -> MedianGapRepurchase:
    """The median-gap rule as of `as_of` (history only), as a servable model: one-time buyers
    get the median of the repeat customers' medians, or `fallback_days` if there are none."""
    gaps = median_gap_days(con, as_of).set_index(C.CUSTOMER_ID)[MEDIAN_GAP_DAYS]
    population = float(gaps.median()) if len(gaps) else float(fallback_days)
    return MedianGapRepurchase(gaps.to_dict(), population, rule)


def holdout_scorer(holdout: pd.DataFrame, challenger: pd.DataFrame):
    """Scores any repurchase model on these holdout rows (for the like-for-like promotion)."""
    from churnrec.training.promotion import ChampionScorer

    t = holdout[C.DAYS_TO_NEXT_ORDER].to_numpy(dtype=float)
    cens = holdout[C.CENSORED].to_numpy(dtype=bool)

    def metrics(pred: pd.DataFrame, rows: np.ndarray) -> dict[str, float]:
        days = pred[Score.EXPECTED_DAYS_TO_NEXT_ORDER].to_numpy(dtype=float)[rows]
        return sm.repurchase_metrics(t[rows], cens[rows], days)

    return ChampionScorer(
        challenger=challenger.reset_index(drop=True),
        predict=lambda model: model.predict(holdout).reset_index(drop=True),
        metrics=metrics,
        n_rows=len(t),
    )


def check_trainable(train: pd.DataFrame, horizon_days: int) -> None:
    """Skip (not crash) when no training customer ever ordered again: nothing to learn."""
    if len(train) == 0 or train[C.CENSORED].astype(bool).all():
        raise SkippedTraining(
            f"no customer ordered again after any training cut-off (horizon {horizon_days} days); "
            "the time to a next order cannot be learned from this history yet"
        )


# --- the job ----------------------------------------------------------------------------
def prepare(con: duckdb.DuckDBPyConnection, config: RepurchaseTrainConfig):
    """Plan the cut-offs and build the labelled frames; the features every frame has."""
    frames = snapshot_frames(
        con,
        ModelKind.REPURCHASE,
        config,
        lambda frames: check_trainable(frames.train, frames.plan.horizon_days),
        lambda train: ~train[C.CENSORED].astype(bool),
        ("observed next orders on the training cut-offs", "censored rows"),
    )
    holdout_features = set(model_feature_columns(frames.holdout))
    features = [f for f in model_feature_columns(frames.train) if f in holdout_features]
    return frames, features


def evaluate(ws: Workspace, config: RepurchaseTrainConfig) -> Evaluation:
    """Choose on validation where the days come from, measure on the holdout, refit for serving."""
    with connect(ws) as con:
        frames, features = prepare(con, config)
        plan = frames.plan
        with stage("repurchase: fit AFT model") as s:
            aft, n_rounds = fit_model(frames.train, features, config.model, frames.validation)
            s.note(f"{n_rounds} trees on {len(features)} features")
        val_rule = gap_rule(con, plan.validation_cutoff, MEDIAN_GAP, config.horizon_days)
        candidates, val_metrics = validation_candidates(aft, val_rule, frames.validation)
        chosen = choose(candidates, Metric(sm.CONCORDANCE, higher_is_better=True))
        measured = served_object(con, aft, chosen, plan.holdout_cutoff, config)
        with stage(f"repurchase: refit through {plan.observed_until}"):
            train = pd.concat([frames.train, frames.validation], ignore_index=True)
            later, _ = fit_model(train, features, config.model, frames.holdout)
            served = served_object(con, later, chosen, plan.observed_until, config)
        report = holdout_report(con, frames, measured, config)
        metrics, baselines, pred, figures, documents, baseline_rows = report
    val_metrics[f"val_{PROMOTION_METRIC}"] = val_metrics[f"val_{chosen.name}_concordance"]
    val_metrics.update(
        n_train_rows=float(len(frames.train)),
        n_validation_rows=float(len(frames.validation)),
        n_holdout_rows=float(len(frames.holdout)),
    )
    return Evaluation(
        chosen=chosen,
        metrics=metrics,
        baselines=baselines,
        served=served,
        measured=measured,
        input_example=input_example(frames.holdout, features, chosen.is_rule),
        holdout_id=fold_ids(frames, LABELS)["holdout_id"],
        **plan.evaluation_dates(),
        candidates=candidates,
        selected_on=sm.CONCORDANCE,
        extra=val_metrics,
        params={
            **plan.ids(),
            **fold_ids(frames, LABELS),
            "observed_until": plan.observed_until,
            "train_rows_before_sample": frames.n_train_rows_before_sample,
            "best_num_boost_round": n_rounds,
            "days_source": chosen.name,
            "expected_days": "median of the distribution that gives p_order_7d/30d/90d"
            if not chosen.is_rule
            else f"{chosen.name} rule (chosen on validation concordance)",
            "baseline": "median past inter-order gap; population median for one-time buyers",
            "gap_remaining": "max(baseline - recency_days, 1)",
        },
        scorer=holdout_scorer(frames.holdout, pred),
        baseline_predictions=baseline_rows,
        datasets=[
            (frames.train, "repurchase_train", "training"),
            (frames.validation, "repurchase_validation", "validation"),
            (frames.holdout, "repurchase_holdout", "holdout"),
        ],
        figures=figures,
        documents=documents,
        feature_names=features,
        run_name=f"repurchase-{plan.holdout_cutoff}",
    )


def validation_candidates(
    aft: RepurchaseModel, rule: MedianGapRepurchase, validation: pd.DataFrame
) -> tuple[list[Candidate], dict[str, float]]:
    """The AFT model and the median-gap rule judged on validation concordance, and `val_*`
    metrics. `gap_remaining` is no candidate: it ranks the wrong way round."""
    t = validation[C.DAYS_TO_NEXT_ORDER].to_numpy(dtype=float)
    cens = validation[C.CENSORED].to_numpy(dtype=bool)
    logged: dict[str, float] = {}
    candidates = []
    for name, model, days in (
        ("model", aft, aft.median_days(validation)),
        (rule.rule, rule, rule.expected_days(validation)),
    ):
        m = sm.repurchase_metrics(t, cens, days)
        logged[f"val_{name}_mae_days"] = m[sm.MAE_DAYS]
        logged[f"val_{name}_concordance"] = m[sm.CONCORDANCE]
        candidates.append(Candidate(name, model, m[sm.CONCORDANCE], is_rule=model is rule))
    return candidates, logged


def served_object(
    con: duckdb.DuckDBPyConnection,
    aft: RepurchaseModel,
    chosen: Candidate,
    as_of: date,
    config: RepurchaseTrainConfig,
):
    """The AFT model, or (when the rule ranked better on validation) the rule as of `as_of`."""
    if not chosen.is_rule:
        return aft
    return gap_rule(con, as_of, chosen.name, config.horizon_days)


def holdout_report(con, frames, measured, config: RepurchaseTrainConfig):
    """Holdout metrics of the measured fit, the two gap rules on the same rows, and plots."""
    holdout, plan = frames.holdout, frames.plan
    with stage("repurchase: evaluate on holdout") as s:
        pred = measured.predict(holdout)
        t = holdout[C.DAYS_TO_NEXT_ORDER].to_numpy(dtype=float)
        cens = holdout[C.CENSORED].to_numpy(dtype=bool)
        metrics = sm.repurchase_metrics(
            t, cens, pred[Score.EXPECTED_DAYS_TO_NEXT_ORDER], pred[Score.P_ORDER_30D]
        )
        baseline_days = median_gap_baseline(
            con, plan.holdout_cutoff, holdout[C.CUSTOMER_ID], fallback_days=config.horizon_days
        )
        baselines = {BASELINE: sm.repurchase_metrics(t, cens, baseline_days)}
        days = {BASELINE: baseline_days}
        if Feature.RECENCY_DAYS in holdout.columns:
            remaining = gap_remaining_days(
                baseline_days, holdout[Feature.RECENCY_DAYS].to_numpy(float)
            )
            baselines[GAP_REMAINING] = sm.repurchase_metrics(t, cens, remaining)
            days[GAP_REMAINING] = remaining
        s.note(f"concordance {metrics[sm.CONCORDANCE]:.4f}, MAE {metrics[sm.MAE_DAYS]:.1f} days")
    _, _, table = sm.p30_calibration(t, pred[Score.P_ORDER_30D], cens)
    figures = {
        CALIBRATION_PNG: sm.calibration_figure(table),
        PRED_VS_ACTUAL_PNG: sm.predicted_vs_actual_figure(
            t, pred[Score.EXPECTED_DAYS_TO_NEXT_ORDER], cens
        ),
    }
    # the rules' days in the scorer's shape (for the quality band's paired interval)
    rows = {
        n: pd.DataFrame({Score.EXPECTED_DAYS_TO_NEXT_ORDER: np.asarray(d, float)})
        for n, d in days.items()
    }
    documents = {CALIBRATION_JSON: table.to_dict(orient="list")}
    return metrics, baselines, pred, figures, documents, rows


def input_example(holdout: pd.DataFrame, features: list[str], is_rule: bool) -> pd.DataFrame:
    """Features as float64 (what the booster reads; nullable ints with gaps would make the
    signature reject missing values), plus what a rule reads."""
    example = holdout[features].head(5).astype("float64").reset_index(drop=True)
    if is_rule:
        example.insert(0, C.CUSTOMER_ID, holdout[C.CUSTOMER_ID].head(5).astype(str).to_numpy())
        if Feature.RECENCY_DAYS not in example.columns:
            example[Feature.RECENCY_DAYS] = (
                holdout[Feature.RECENCY_DAYS].head(5).astype("float64").to_numpy()
            )
    return example


SPEC = JobSpec(
    kind=ModelKind.REPURCHASE,
    headline=Metric(PROMOTION_METRIC, higher_is_better=True),
    baselines=(BASELINE, GAP_REMAINING),
    evaluate=evaluate,
    guards=REPURCHASE_GUARDS,
)


def train_repurchase(
    workspace: Workspace | str | Path, config: RepurchaseTrainConfig | None = None
):
    """Run the repurchase job through the shared runner (`training.job.run_job`)."""
    return run_job(SPEC, Workspace.at(workspace), config or RepurchaseTrainConfig())
