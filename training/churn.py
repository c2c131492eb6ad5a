"""The `churn` training job: cut-offs -> labelled frames -> both learners -> best on holdout.

With `btyd_features` (default BG/NBD), "buy till you die" fits are stacked under the trees:
at every cut-off a BG/NBD is fitted on that cut-off's snapshot (history up to T only) and its
P(alive), P(purchase within the horizon) and expected purchases join that cut-off's rows; the
fit at the holdout cut-off travels with the model, which scores the holdout (and later
snapshots) with it.

One MLflow run in experiment `churn` records the config, the training and holdout frames
(with fingerprints), both learners' holdout ROC-AUC, the chosen model's metrics next to the
baselines' on the *same* holdout rows (recency rule, BG/NBD, Pareto/NBD), plots, the feature
list and the model; the model is then registered as `churn` and promoted to `@champion` only
if it beats the champion's ROC-AUC on the same holdout (see `churnrec.training.promotion`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from churnrec import columns as C
from churnrec.models.churn import BTYDFeatures, BTYDKind, ChurnModel, ChurnModelConfig, Learner
from churnrec.progress import say, stage
from churnrec.store.packaging import log_churnrec_model
from churnrec.training.churn_metrics import (
    baseline_metrics,
    churn_metrics,
    clv_churn_scores,
    recency_rule_scores,
)
from churnrec.training.datasets import (
    TrainingFrames,
    build_training_frames,
    data_span,
    model_feature_columns,
)
from churnrec.training.splits import CutoffPlan, plan_cutoffs
from churnrec.workspace import Workspace

EXPERIMENT = "churn"
REGISTERED_NAME = "churn"
HEADLINE_METRIC = "roc_auc"
RECENCY_BASELINE = "recency"


class ChurnTrainConfig(BaseModel):
    """What the churn job trains on and how; `model` holds the learners' hyper-parameters."""

    model_config = ConfigDict(extra="forbid")

    horizon_days: int = Field(90, ge=1, description="churned = no order within this many days")
    n_train_cutoffs: int = Field(4, ge=1)
    # 30 rather than the horizon: with a long horizon (CDNOW: 181 days) there is otherwise room
    # for one training cut-off only; overlapping windows measured better (BENCHMARKS.md).
    step_days: int | None = Field(
        30, ge=1, description="days between training cut-offs (None: the horizon)"
    )
    holdout_cutoff: date | None = Field(None, description="default: last order date - horizon")
    clv_baselines: list[Literal["bgnbd", "paretonbd"]] = Field(
        default_factory=lambda: ["bgnbd", "paretonbd"]
    )
    btyd_features: list[BTYDKind] = Field(
        default_factory=lambda: ["bgnbd"],
        description="BTYD models fitted point-in-time at each cut-off whose P(alive), "
        "P(purchase within the horizon) and expected purchases become features ([]: none)",
    )
    model: ChurnModelConfig = Field(default_factory=ChurnModelConfig)


@dataclass
class ChurnTrainResult:
    run_id: str
    metrics: dict[str, float]  # model metrics, `<baseline>_<metric>`, `<learner>_roc_auc`
    baselines: dict[str, dict[str, float]]
    learner: Learner
    promotion: object  # churnrec.training.promotion.PromotionDecision
    holdout_cutoff: date
    train_cutoffs: tuple[date, ...]
    horizon_days: int
    n_train_rows: int
    n_holdout_rows: int
    feature_names: list[str] = field(default_factory=list)
    model_uri: str = ""


@dataclass
class _Candidate:
    learner: Learner
    model: ChurnModel
    p_holdout: np.ndarray
    roc_auc: float


def holdout_orders(con, holdout_cutoff: date) -> pd.DataFrame:
    """Order lines up to the end of the holdout cut-off day (what the CLV baselines may see)."""
    end = holdout_cutoff + timedelta(days=1)
    return con.execute(
        f"SELECT {C.CUSTOMER_ID}, {C.ORDERED_AT}, {C.IS_RETURN} FROM {C.ORDERS} "
        f"WHERE {C.ORDERED_AT} < ?",
        [end],
    ).df()


def compute_baselines(
    holdout: pd.DataFrame, orders: pd.DataFrame, plan: CutoffPlan, models: list[str]
) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """Metrics and scores of the recency rule and each CLV model on the holdout rows.

    A CLV model that cannot be fitted on this data is left out with a message, not fatal: the
    baselines are for comparison, the churn model does not depend on them.
    """
    y = holdout[C.CHURNED].to_numpy(dtype="float64")
    scores: dict[str, np.ndarray] = {RECENCY_BASELINE: recency_rule_scores(holdout)}
    metrics = {RECENCY_BASELINE: baseline_metrics(y, scores[RECENCY_BASELINE], probabilities=False)}
    customers = holdout[C.CUSTOMER_ID].astype(str).tolist()
    for name in models:
        try:
            s = clv_churn_scores(
                orders, plan.holdout_cutoff, plan.horizon_days, customers, model=name
            )
        except (ValueError, RuntimeError, ArithmeticError) as exc:
            say(f"[churnrec] churn: {name} baseline skipped: {exc}")
            continue
        scores[name] = s
        metrics[name] = baseline_metrics(y, s, probabilities=True)
    return metrics, scores


def add_btyd_features(
    frames: TrainingFrames, kinds: list[str], horizon_days: int
) -> tuple[TrainingFrames, BTYDFeatures | None]:
    """Point-in-time BTYD feature columns on both frames, and the holdout cut-off's fit.

    Each cut-off's rows get features from models fitted on that cut-off's snapshot rows only
    (the snapshot is history up to T, so nothing later is read). A kind that cannot be fitted
    at some cut-off is dropped everywhere with a message, so training and holdout rows always
    carry the same columns; with none left, the frames come back unchanged and None.
    """
    kinds = list(dict.fromkeys(kinds))
    if not kinds:
        return frames, None
    groups = [(t, rows) for t, rows in frames.train.groupby(C.AS_OF, sort=True)]
    groups.append((frames.plan.holdout_cutoff, frames.holdout))
    fits = []
    for as_of, rows in groups:
        fitted, failed = BTYDFeatures.fit(rows, kinds, horizon_days)
        for kind, why in failed.items():
            day = pd.Timestamp(as_of).date()
            say(f"[churnrec] churn: {kind} features left out (fit at {day} failed: {why})")
        fits.append(fitted)
    usable = [k for k in kinds if all(k in f.models for f in fits)]
    if not usable:
        return frames, None
    fits = [BTYDFeatures({k: f.models[k] for k in usable}, horizon_days) for f in fits]
    train_parts = [fit.transform(rows) for fit, (_, rows) in zip(fits[:-1], groups[:-1])]
    train_extra = pd.concat(train_parts).reindex(frames.train.index)
    train = pd.concat(
        [frames.train.drop(columns=fits[-1].columns, errors="ignore"), train_extra], axis=1
    )
    holdout_extra = fits[-1].transform(frames.holdout)
    holdout = pd.concat(
        [frames.holdout.drop(columns=fits[-1].columns, errors="ignore"), holdout_extra], axis=1
    )
    return TrainingFrames(train=train, holdout=holdout, plan=frames.plan), fits[-1]


def _fit_candidates(
    frames: TrainingFrames,
    features: list[str],
    config: ChurnTrainConfig,
    btyd: BTYDFeatures | None = None,
) -> list[_Candidate]:
    from sklearn.metrics import roc_auc_score

    y = frames.holdout[C.CHURNED].to_numpy(dtype="float64")
    out = []
    for learner in config.model.learners:
        with stage(f"churn: fit {learner}") as s:
            model = ChurnModel().fit(frames.train, features, config.model, learner, btyd=btyd)
            p = model.predict_proba(frames.holdout)
            auc = float(roc_auc_score(y, p))
            s.note(f"{model.best_iteration} trees, holdout ROC-AUC {auc:.4f}")
        out.append(_Candidate(learner, model, p, auc))
    return out


def input_example(frame: pd.DataFrame, features: list[str], n: int = 5) -> pd.DataFrame:
    """First rows of `customer_id` + features, features as float64 (what the model reads).

    Nullable integer columns (e.g. `days_since_last_visit`) would give an integer signature
    that MLflow cannot fill with a missing value; float64 with NaN can.
    """
    head = frame.head(n).reset_index(drop=True)
    out = pd.DataFrame({C.CUSTOMER_ID: head[C.CUSTOMER_ID].astype(str)})
    for name in features:
        out[name] = head[name].to_numpy(dtype="float64", na_value=np.nan)
    return out


def _labels_fingerprint(holdout: pd.DataFrame) -> str:
    """What a holdout *is* for comparison: its customers and their labels (not the features)."""
    from churnrec.training.tracking import dataset_fingerprint

    labels = holdout[[C.CUSTOMER_ID, C.CHURNED]].sort_values(C.CUSTOMER_ID, kind="stable")
    return dataset_fingerprint(labels.reset_index(drop=True))


def train_churn(
    workspace: Workspace | str | Path, config: ChurnTrainConfig | None = None
) -> ChurnTrainResult:
    """Train, evaluate against baselines, log one MLflow run and register the model."""
    from churnrec.features.db import connect
    from churnrec.models.base import ModelKind
    from churnrec.training import tracking
    from churnrec.training.plots import calibration_figure, importance_figure, roc_figure
    from churnrec.training.promotion import register_and_promote

    ws = Workspace.at(workspace)
    config = config or ChurnTrainConfig()
    con = connect(ws)

    with stage("churn: plan cut-offs") as s:
        first, last = data_span(con)
        plan = plan_cutoffs(
            first,
            last,
            config.horizon_days,
            n_train_cutoffs=config.n_train_cutoffs,
            step_days=config.step_days,
            holdout_cutoff=config.holdout_cutoff,
        )
        s.note(
            f"train {', '.join(map(str, plan.train_cutoffs))}; holdout {plan.holdout_cutoff} "
            f"(+{plan.horizon_days} days, data to {plan.observed_until})"
        )
    with stage("churn: training frames") as s:
        frames = build_training_frames(con, plan)
        s.note(f"{len(frames.train):,} train rows, {len(frames.holdout):,} holdout rows")
    btyd = None
    if config.btyd_features:
        with stage("churn: BTYD features") as s:
            frames, btyd = add_btyd_features(frames, config.btyd_features, plan.horizon_days)
            s.note(
                "none (every fit failed)"
                if btyd is None
                else f"{', '.join(btyd.kinds)} fitted at {len(plan.train_cutoffs) + 1} cut-offs"
            )
    features = [f for f in model_feature_columns(frames.train) if f in frames.holdout.columns]

    candidates = _fit_candidates(frames, features, config, btyd)
    best = max(candidates, key=lambda c: c.roc_auc)  # first listed wins a tie
    y = frames.holdout[C.CHURNED].to_numpy(dtype="float64")
    metrics = churn_metrics(y, best.p_holdout)

    with stage("churn: baselines") as s:
        orders = holdout_orders(con, plan.holdout_cutoff)
        baselines, baseline_scores = compute_baselines(
            frames.holdout, orders, plan, list(config.clv_baselines)
        )
        s.note(", ".join(f"{k} ROC-AUC {v['roc_auc']:.4f}" for k, v in baselines.items()))

    holdout_id = f"{plan.holdout_cutoff}:{plan.horizon_days}:{_labels_fingerprint(frames.holdout)}"
    extra = {f"{c.learner}_roc_auc": c.roc_auc for c in candidates}
    extra.update(
        n_train_rows=float(len(frames.train)),
        n_holdout_rows=float(len(frames.holdout)),
        holdout_churn_rate=float(y.mean()),
        train_churn_rate=float(frames.train[C.CHURNED].astype("float64").mean()),
        best_iteration=float(best.model.best_iteration),
    )

    with (
        stage("churn: log run") as s,
        tracking.start_run(
            ws,
            EXPERIMENT,
            run_name=f"churn {plan.holdout_cutoff} h{plan.horizon_days}",
            tags={"learner": best.learner},
        ) as run,
    ):
        run_id = run.info.run_id
        tracking.log_params(
            {
                **config.model_dump(mode="json", exclude={"model"}),
                "model": config.model.model_dump(mode="json"),
                "chosen_learner": best.learner,
                "btyd_features_used": ",".join(btyd.kinds) if btyd else "none",
                "train_cutoffs": ",".join(map(str, plan.train_cutoffs)),
                "plan_holdout_cutoff": str(plan.holdout_cutoff),
                "observed_until": str(plan.observed_until),
                "holdout_id": holdout_id,
            }
        )
        source = ws.orders_path
        tracking.log_dataset(frames.train, name="churn_train", context="training", source=source)
        tracking.log_dataset(frames.holdout, name="churn_holdout", context="holdout", source=source)
        tracking.log_metrics_with_baselines(metrics, baselines)
        import mlflow

        mlflow.log_metrics(extra)
        tracking.log_feature_list(features)
        tracking.log_figure(roc_figure(y, {"model": best.p_holdout, **baseline_scores}), "roc.png")
        tracking.log_figure(calibration_figure(y, best.p_holdout), "calibration.png")
        tracking.log_figure(importance_figure(best.model.feature_importances()), "importance.png")
        model_uri = log_churnrec_model(
            best.model,
            ModelKind.CHURN,
            input_example=input_example(frames.holdout, best.model.input_columns),
        )
        promotion = register_and_promote(
            ws,
            model_uri,
            name=REGISTERED_NAME,
            run_id=run_id,
            metric=HEADLINE_METRIC,
            value=metrics[HEADLINE_METRIC],
            higher_is_better=True,
            holdout_id=holdout_id,
        )
        s.note(f"run {run_id}, {REGISTERED_NAME} v{promotion.version} @{promotion.alias}")

    all_metrics = dict(metrics)
    for name, values in baselines.items():
        all_metrics.update({f"{name}_{k}": v for k, v in values.items()})
    all_metrics.update(extra)
    return ChurnTrainResult(
        run_id=run_id,
        metrics=all_metrics,
        baselines=baselines,
        learner=best.learner,
        promotion=promotion,
        holdout_cutoff=plan.holdout_cutoff,
        train_cutoffs=plan.train_cutoffs,
        horizon_days=plan.horizon_days,
        n_train_rows=len(frames.train),
        n_holdout_rows=len(frames.holdout),
        feature_names=features,
        model_uri=model_uri,
    )
