"""The `repurchase` training job: fit the AFT time-to-next-order model, score it, track it.

Three-way time split (`training.splits`): the AFT model is fitted on the training cut-offs and
early-stopped on the validation cut-off; on validation it is also decided where the served
days-to-next-order come from: the model's median, or (when the model's mean absolute error is
not lower) the better of the simple rules, served with the model's probabilities
(`models.baseline_models.RuleDaysRepurchase`, tagged `is_baseline=true`). The holdout cut-off is
only scored: the served object's metrics next to the median-gap rule's (`baseline_*`, e.g.
`baseline_mae_days`) and what is left of the usual gap (`gap_remaining_*`) on the same rows.
Promotion re-scores the champion on this holdout (primary `concordance`, guards
`promotion.REPURCHASE_GUARDS`).
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
from churnrec.models.baseline_models import MedianGapRepurchase, RuleDaysRepurchase
from churnrec.models.repurchase import (
    EXPECTED_DAYS,
    P_ORDER_30D,
    RepurchaseModel,
    RepurchaseModelConfig,
)
from churnrec.progress import stage
from churnrec.settings import HORIZON_DAYS, N_TRAIN_CUTOFFS, TRAIN_CUSTOMERS_PER_CUTOFF
from churnrec.store.packaging import log_churnrec_model
from churnrec.training import survival_metrics as sm
from churnrec.training.datasets import build_training_frames, data_span, model_feature_columns
from churnrec.training.errors import SkippedTraining
from churnrec.training.promotion import (
    REPURCHASE_GUARDS,
    TAG_BASELINE_STRATEGY,
    TAG_IS_BASELINE,
    PromotionDecision,
    register_and_promote,
)
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

    horizon_days: int = Field(HORIZON_DAYS, ge=1)
    n_train_cutoffs: int = Field(N_TRAIN_CUTOFFS, ge=1)
    step_days: int | None = Field(None, ge=1, description="None: the horizon")
    holdout_cutoff: date | None = None
    max_train_customers_per_cutoff: int | None = Field(
        TRAIN_CUSTOMERS_PER_CUTOFF,
        ge=1,
        description="training rows per training cut-off: a seeded random customer sample when "
        "there are more (validation and holdout rows are never sampled; None: all)",
    )
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
    is_baseline: bool = False  # days served from a rule (see `choose_days_source`)
    days_source: str = "model"


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
    train: pd.DataFrame,
    features: list[str],
    config: RepurchaseModelConfig,
    validation: pd.DataFrame | None = None,
) -> tuple[RepurchaseModel, int]:
    """Fit on the training cut-offs, choosing the number of trees on the validation cut-off.

    Without a validation frame (a hand-built two-way plan), ~15% of customers are held out for
    early stopping and the model is refitted on all rows. Returns the model and its trees.
    """
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
    """The median-gap rule as of `as_of` (history only), as a servable model."""
    gaps = median_gap_days(con, as_of).set_index(C.CUSTOMER_ID)[MEDIAN_GAP_DAYS]
    population = float(gaps.median()) if len(gaps) else float(fallback_days)
    return MedianGapRepurchase(gaps.to_dict(), population, rule)


def choose_days_source(
    model: RepurchaseModel,
    rule: MedianGapRepurchase,
    validation: pd.DataFrame,
) -> tuple[str, dict[str, float]]:
    """`"model"` when its days (after `fit_days_map` on validation) have a lower validation MAE
    than the median-gap rule's, else the rule's name; plus `val_*` metrics for the log.

    The model's map is monotone, so its ranking is untouched; `gap_remaining` is not a served
    candidate: its MAE can be low while its ranking is the wrong way round (the most overdue
    customers are the least likely to come back soon).
    """
    t = validation[C.DAYS_TO_NEXT_ORDER].to_numpy(dtype=float)
    cens = validation[C.CENSORED].to_numpy(dtype=bool)
    model.fit_days_map(validation)
    scores = {
        "model": model.predict(validation)[EXPECTED_DAYS].to_numpy(dtype=float),
        rule.rule: rule.expected_days(validation),
    }
    logged: dict[str, float] = {}
    for name, days in scores.items():
        m = sm.repurchase_metrics(t, cens, days)
        logged[f"val_{name}_mae_days"] = m[sm.MAE_DAYS]
        logged[f"val_{name}_concordance"] = m[sm.CONCORDANCE]
    if logged["val_model_mae_days"] < logged[f"val_{rule.rule}_mae_days"]:
        return "model", logged
    return rule.rule, logged


def holdout_scorer(holdout: pd.DataFrame, challenger: pd.DataFrame):
    """Scores any repurchase model on these holdout rows (for the like-for-like promotion)."""
    from churnrec.training.promotion import ChampionScorer

    t = holdout[C.DAYS_TO_NEXT_ORDER].to_numpy(dtype=float)
    cens = holdout[C.CENSORED].to_numpy(dtype=bool)

    def predict(model) -> pd.DataFrame:
        return model.predict(holdout).reset_index(drop=True)

    def metrics(pred: pd.DataFrame, rows: np.ndarray) -> dict[str, float]:
        days = pred[EXPECTED_DAYS].to_numpy(dtype=float)[rows]
        return sm.repurchase_metrics(t[rows], cens[rows], days)

    return ChampionScorer(
        challenger=challenger.reset_index(drop=True),
        predict=predict,
        metrics=metrics,
        n_rows=len(t),
    )


def _label_key(frame: pd.DataFrame) -> pd.DataFrame:
    key = frame[[C.CUSTOMER_ID, C.DAYS_TO_NEXT_ORDER, C.CENSORED]].reset_index(drop=True)
    if C.AS_OF in frame.columns:
        key[C.AS_OF] = frame[C.AS_OF].astype(str).to_numpy()
    return key


def check_trainable(train: pd.DataFrame, horizon_days: int) -> None:
    """Skip (not crash) when no training customer ever ordered again: nothing to learn."""
    if len(train) == 0 or train[C.CENSORED].astype(bool).all():
        raise SkippedTraining(
            f"no customer ordered again after any training cut-off (horizon {horizon_days} days); "
            "the time to a next order cannot be learned from this history yet"
        )


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
                f"train {', '.join(map(str, plan.train_cutoffs))}; validation "
                f"{plan.validation_cutoff}; holdout {plan.holdout_cutoff} observed until "
                f"{plan.observed_until} ({plan.windows} windows)"
            )
        with stage("repurchase: training frames") as s:
            frames = build_training_frames(
                con,
                plan,
                max_customers_per_cutoff=config.max_train_customers_per_cutoff,
                seed=config.model.seed,
            )
            train, validation, holdout = frames.train, frames.validation, frames.holdout
            s.note(
                f"{len(train):,} training (of {frames.n_train_rows_before_sample:,}), "
                f"{len(validation):,} validation, "
                f"{len(holdout):,} holdout rows"
            )
        check_trainable(train, plan.horizon_days)
        holdout_features = set(model_feature_columns(holdout))
        features = [f for f in model_feature_columns(train) if f in holdout_features]
        with stage("repurchase: fit AFT model") as s:
            aft, n_rounds = fit_model(train, features, config.model, validation)
            s.note(
                f"{n_rounds} trees on {len(features)} features, {train[C.CENSORED].mean():.0%} censored"
            )
        with stage("repurchase: choose on validation") as s:
            val_rule = gap_rule(con, plan.validation_cutoff, "median_gap", config.horizon_days)
            source, val_metrics = choose_days_source(aft, val_rule, validation)
            model = aft
            mlflow_days_map = {"days_scale": aft.days_scale, "days_power": aft.days_power}
            if source != "model":
                model = RuleDaysRepurchase(
                    aft, gap_rule(con, plan.holdout_cutoff, source, config.horizon_days)
                )
            val_metrics[f"val_{PROMOTION_METRIC}"] = val_metrics[f"val_{source}_concordance"]
            s.note(
                f"days from {source} (validation MAE model {val_metrics['val_model_mae_days']:.1f}"
                f", median gap {val_metrics['val_median_gap_mae_days']:.1f} days)"
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
                f"concordance {metrics[sm.CONCORDANCE]:.4f}, MAE {metrics[sm.MAE_DAYS]:.1f} days "
                f"vs median-gap rule {baseline[sm.CONCORDANCE]:.4f}, {baseline[sm.MAE_DAYS]:.1f}"
            )
    finally:
        con.close()

    is_baseline = source != "model"
    baseline_tags = {
        TAG_IS_BASELINE: str(is_baseline).lower(),
        TAG_BASELINE_STRATEGY: model.strategy if is_baseline else "none",
    }
    ids = {
        "validation_id": f"{plan.validation_cutoff}..{plan.holdout_cutoff}#"
        f"{dataset_fingerprint(_label_key(validation))}",
        "holdout_id": holdout_id(plan, holdout),
        "train_id": f"{plan.train_cutoffs[0]}..{plan.train_cutoffs[-1]}#"
        f"{dataset_fingerprint(_label_key(train))}",
    }
    with stage("repurchase: track in MLflow") as s:
        source_path = ws.orders_path
        with start_run(
            ws, EXPERIMENT, run_name=f"repurchase-{plan.holdout_cutoff}", tags=baseline_tags
        ) as run:
            run_id = run.info.run_id
            log_params(
                {
                    "horizon_days": config.horizon_days,
                    "n_train_cutoffs": config.n_train_cutoffs,
                    "max_train_customers_per_cutoff": config.max_train_customers_per_cutoff,
                    "train_rows_before_sample": frames.n_train_rows_before_sample,
                    "step_days": config.step_days,
                    **plan.ids(),
                    **ids,
                    "observed_until": plan.observed_until,
                    "best_num_boost_round": n_rounds,
                    "days_source": source,
                    **mlflow_days_map,
                    "expected_days": "median of the AFT distribution, mapped on validation"
                    if source == "model"
                    else f"{source} rule (chosen on validation MAE)",
                    "baseline": "median past inter-order gap; population median for one-time buyers",
                    "gap_remaining": "max(baseline - recency_days, 1)",
                    "model": config.model.model_dump(),
                }
            )
            log_dataset(train, name="repurchase_train", context="training", source=source_path)
            log_dataset(
                validation, name="repurchase_validation", context="validation", source=source_path
            )
            log_dataset(holdout, name="repurchase_holdout", context="holdout", source=source_path)
            log_feature_list(features)
            log_metrics_with_baselines(metrics, baselines=baselines)
            mlflow.log_metrics(val_metrics)
            _, _, table = sm.p30_calibration(t, pred[P_ORDER_30D], cens)
            mlflow.log_dict(table.to_dict(orient="list"), CALIBRATION_JSON)
            log_figure(sm.calibration_figure(table), CALIBRATION_PNG)
            log_figure(
                sm.predicted_vs_actual_figure(t, pred[EXPECTED_DAYS], cens), PRED_VS_ACTUAL_PNG
            )
            # features as float64: the booster reads them so, and nullable ints with gaps
            # would make the signature reject the missing values serving will see
            example = holdout[features].head(5).astype("float64").reset_index(drop=True)
            if is_baseline:
                example.insert(
                    0, C.CUSTOMER_ID, holdout[C.CUSTOMER_ID].head(5).astype(str).to_numpy()
                )
                if RECENCY_DAYS not in example.columns:
                    example[RECENCY_DAYS] = (
                        holdout[RECENCY_DAYS].head(5).astype("float64").to_numpy()
                    )
            model_uri = log_churnrec_model(model, ModelKind.REPURCHASE, input_example=example)
        promotion = register_and_promote(
            ws,
            model_uri,
            name=ModelKind.REPURCHASE.value,
            run_id=run_id,
            metric=PROMOTION_METRIC,
            value=metrics[PROMOTION_METRIC],
            higher_is_better=True,
            holdout_id=ids["holdout_id"],
            guards=REPURCHASE_GUARDS,
            score_champion=holdout_scorer(holdout, pred),
            tags=baseline_tags,
        )
        s.note(f"run {run_id}, {promotion.name} v{promotion.version} @{promotion.alias}")

    all_metrics = dict(metrics)
    for name, values in baselines.items():
        all_metrics.update({f"{name}_{k}": v for k, v in values.items()})
    all_metrics.update(val_metrics)
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
        is_baseline=is_baseline,
        days_source=source,
    )
