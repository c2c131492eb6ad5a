"""The `repurchase` training job: fit the AFT time-to-next-order model, score it, track it.

Train on snapshots stacked over earlier cut-offs (labels observed only up to the holdout
cut-off), evaluate on the holdout cut-off with labels observed to the end of the data, compare
against the median-gap rule, log everything to the MLflow experiment `repurchase`, register the
model and promote it on holdout `concordance`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import mlflow
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from churnrec import columns as C
from churnrec.features.db import connect
from churnrec.models.base import ModelKind
from churnrec.models.repurchase import (
    EXPECTED_DAYS,
    P_ORDER_30D,
    RepurchaseModel,
    RepurchaseModelConfig,
)
from churnrec.progress import stage
from churnrec.store.packaging import log_churnrec_model
from churnrec.training import survival_metrics as sm
from churnrec.training.datasets import build_training_frames, data_span, model_feature_columns
from churnrec.training.promotion import PromotionDecision, register_and_promote
from churnrec.training.splits import CutoffPlan, plan_cutoffs
from churnrec.training.tracking import (
    dataset_fingerprint,
    log_dataset,
    log_feature_list,
    log_figure,
    log_metrics_with_baselines,
    log_params,
    start_run,
)
from churnrec.workspace import Workspace

EXPERIMENT = ModelKind.REPURCHASE.value
PROMOTION_METRIC = sm.CONCORDANCE
BASELINE = "baseline"  # metrics logged as baseline_concordance, baseline_mae_days
GAP_REMAINING = "gap_remaining"  # logged as gap_remaining_concordance, gap_remaining_mae_days
RECENCY_DAYS = "recency_days"  # snapshot column: days from the last order to T
MEDIAN_GAP_DAYS = "median_gap_days"
VALID_FRACTION = 0.15  # customers held out of training for early stopping only
CALIBRATION_PNG = "p30_calibration.png"
PRED_VS_ACTUAL_PNG = "predicted_vs_actual.png"
CALIBRATION_JSON = "p30_calibration.json"


class RepurchaseTrainConfig(BaseModel):
    """What `churnrec train repurchase` does; the `repurchase:` section of the config file."""

    model_config = ConfigDict(extra="forbid")

    horizon_days: int = Field(90, ge=1)
    n_train_cutoffs: int = Field(4, ge=1)
    step_days: int | None = Field(None, ge=1)
    holdout_cutoff: date | None = None
    model: RepurchaseModelConfig = Field(default_factory=RepurchaseModelConfig)


@dataclass(frozen=True)
class RepurchaseTrainResult:
    run_id: str
    metrics: dict[str, float]  # model metrics plus `<baseline>_<metric>` keys
    baseline_metrics: dict[str, float]  # the median-gap baseline (`baseline_*` in MLflow)
    promotion: PromotionDecision
    n_train_rows: int
    n_holdout_rows: int
    plan: CutoffPlan
    feature_names: list[str] = field(default_factory=list)
    model_uri: str = ""


# --- baseline ---------------------------------------------------------------------------
def median_gap_days(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Per repeat customer: median days between distinct order days up to T (point in time).

    Same order-day definition as the snapshot's gap features (non-returned lines, calendar
    days); the snapshot only carries the mean gap, which long pauses inflate.
    """
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
    """Baseline days to next order: the customer's median past gap; one-time buyers get the
    population median (median of the repeat customers' medians), or `fallback_days` if no
    customer has ordered twice."""
    gaps = median_gap_days(con, as_of).set_index(C.CUSTOMER_ID)[MEDIAN_GAP_DAYS]
    population = float(gaps.median()) if len(gaps) else float(fallback_days)
    ids = customer_ids.astype(str)
    return ids.map(gaps).fillna(population).to_numpy(dtype=float)


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
    train: pd.DataFrame, features: list[str], config: RepurchaseModelConfig
) -> tuple[RepurchaseModel, int]:
    """Pick the number of trees by early stopping on held-out customers, then refit on all rows.

    Returns the refitted model and the number of boosting rounds chosen.
    """
    if config.early_stopping_rounds is None:
        return RepurchaseModel.fit(train, features, config), config.num_boost_round
    fit_part, valid_part = split_validation(train, config.seed)
    if valid_part.empty:
        return RepurchaseModel.fit(train, features, config), config.num_boost_round
    probe = RepurchaseModel.fit(fit_part, features, config, valid_frame=valid_part)
    final_config = config.model_copy(
        update={"num_boost_round": probe.n_trees, "early_stopping_rounds": None}
    )
    return RepurchaseModel.fit(train, features, final_config), probe.n_trees


def holdout_id(plan: CutoffPlan, holdout: pd.DataFrame) -> str:
    """Names the holdout: cut-off, end of observation and a fingerprint of its labels."""
    labels = holdout[[C.CUSTOMER_ID, C.DAYS_TO_NEXT_ORDER, C.CENSORED]].reset_index(drop=True)
    return f"{plan.holdout_cutoff}..{plan.observed_until}#{dataset_fingerprint(labels)}"


def _plan(con: duckdb.DuckDBPyConnection, config: RepurchaseTrainConfig) -> CutoffPlan:
    first, last = data_span(con)
    return plan_cutoffs(
        first,
        last,
        config.horizon_days,
        n_train_cutoffs=config.n_train_cutoffs,
        step_days=config.step_days,
        holdout_cutoff=config.holdout_cutoff,
    )


# --- the job ----------------------------------------------------------------------------
def train_repurchase(
    workspace: Workspace | str | Path, config: RepurchaseTrainConfig | None = None
) -> RepurchaseTrainResult:
    """Train, evaluate against the median-gap baseline, log to MLflow, register and promote."""
    ws = Workspace.at(workspace)
    config = config or RepurchaseTrainConfig()
    con = connect(ws)
    try:
        with stage("repurchase: plan cut-offs") as s:
            plan = _plan(con, config)
            s.note(
                f"train {', '.join(map(str, plan.train_cutoffs))}; holdout {plan.holdout_cutoff} "
                f"observed until {plan.observed_until}"
            )
        with stage("repurchase: training frames") as s:
            frames = build_training_frames(con, plan)
            train, holdout = frames.train, frames.holdout
            s.note(f"{len(train):,} training rows, {len(holdout):,} holdout rows")
        holdout_features = set(model_feature_columns(holdout))
        features = [f for f in model_feature_columns(train) if f in holdout_features]
        with stage("repurchase: fit AFT model") as s:
            model, n_rounds = fit_model(train, features, config.model)
            s.note(
                f"{n_rounds} trees on {len(features)} features, {train[C.CENSORED].mean():.0%} censored"
            )
        with stage("repurchase: evaluate on holdout") as s:
            pred = model.predict(holdout)
            t = holdout[C.DAYS_TO_NEXT_ORDER].to_numpy(dtype=float)
            cens = holdout[C.CENSORED].to_numpy(dtype=bool)
            metrics = sm.repurchase_metrics(t, cens, pred[EXPECTED_DAYS], pred[P_ORDER_30D])
            baseline_days = median_gap_baseline(
                con, plan.holdout_cutoff, holdout[C.CUSTOMER_ID], fallback_days=config.horizon_days
            )
            baseline = sm.repurchase_metrics(t, cens, baseline_days)
            baselines = {BASELINE: baseline}
            if RECENCY_DAYS in holdout.columns:
                remaining = gap_remaining_days(
                    baseline_days, holdout[RECENCY_DAYS].to_numpy(dtype=float)
                )
                baselines[GAP_REMAINING] = sm.repurchase_metrics(t, cens, remaining)
            s.note(
                f"concordance {metrics[sm.CONCORDANCE]:.4f} vs median-gap baseline "
                f"{baseline[sm.CONCORDANCE]:.4f}"
            )
    finally:
        con.close()

    with stage("repurchase: track in MLflow") as s:
        source = ws.orders_path
        with start_run(ws, EXPERIMENT, run_name=f"repurchase-{plan.holdout_cutoff}") as run:
            run_id = run.info.run_id
            log_params(
                {
                    "horizon_days": config.horizon_days,
                    "n_train_cutoffs": config.n_train_cutoffs,
                    "step_days": config.step_days,
                    "train_cutoffs": ",".join(map(str, plan.train_cutoffs)),
                    "holdout_cutoff": plan.holdout_cutoff,
                    "observed_until": plan.observed_until,
                    "best_num_boost_round": n_rounds,
                    "expected_days": "median of the AFT distribution",
                    "baseline": "median past inter-order gap; population median for one-time buyers",
                    "gap_remaining": "max(baseline - recency_days, 1)",
                    "model": config.model.model_dump(),
                }
            )
            log_dataset(train, name="repurchase_train", context="training", source=source)
            log_dataset(holdout, name="repurchase_holdout", context="holdout", source=source)
            log_feature_list(features)
            log_metrics_with_baselines(metrics, baselines=baselines)
            _, _, table = sm.p30_calibration(t, pred[P_ORDER_30D], cens)
            mlflow.log_dict(table.to_dict(orient="list"), CALIBRATION_JSON)
            log_figure(sm.calibration_figure(table), CALIBRATION_PNG)
            log_figure(
                sm.predicted_vs_actual_figure(t, pred[EXPECTED_DAYS], cens), PRED_VS_ACTUAL_PNG
            )
            # features as float64: the booster reads them so, and nullable ints with gaps
            # would make the signature reject the missing values serving will see
            example = holdout[features].head(5).astype("float64").reset_index(drop=True)
            model_uri = log_churnrec_model(model, ModelKind.REPURCHASE, input_example=example)
        promotion = register_and_promote(
            ws,
            model_uri,
            name=ModelKind.REPURCHASE.value,
            run_id=run_id,
            metric=PROMOTION_METRIC,
            value=metrics[PROMOTION_METRIC],
            higher_is_better=True,
            holdout_id=holdout_id(plan, holdout),
        )
        s.note(f"run {run_id}, {promotion.name} v{promotion.version} @{promotion.alias}")

    all_metrics = dict(metrics)
    for name, values in baselines.items():
        all_metrics.update({f"{name}_{k}": v for k, v in values.items()})
    return RepurchaseTrainResult(
        run_id=run_id,
        metrics=all_metrics,
        baseline_metrics=baseline,
        promotion=promotion,
        n_train_rows=len(train),
        n_holdout_rows=len(holdout),
        plan=plan,
        feature_names=features,
        model_uri=model_uri,
    )
