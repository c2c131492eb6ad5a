"""The `churn` training job: cut-offs -> labelled frames -> candidates -> choice on validation.

Three-way time split (`training.splits`): the learners are fitted on the training cut-offs;
everything that is a choice (early stopping, calibration, LightGBM vs XGBoost, trained model vs
simple rule) is made on the validation cut-off; the holdout cut-off is only scored and reported.

Candidates are the learners *and* the servable rules (`models.baseline_models`): the recency
rule (Platt-mapped to a probability on validation), BG/NBD and Pareto/NBD. A trained model is
chosen only when it beats the best rule's validation ROC-AUC; otherwise the rule is registered
and served, tagged `is_baseline=true`, `baseline_strategy=<rule>`.

With `btyd_features` (default BG/NBD), "buy till you die" fits are stacked under the trees:
at every cut-off a BG/NBD is fitted on that cut-off's snapshot (history up to T only) and its
P(alive), P(purchase within the horizon) and expected purchases join that cut-off's rows; the
fit at the holdout cut-off travels with the model, which scores the holdout (and later
snapshots) with it.

One MLflow run in experiment `churn` records the config, the three frames (with fingerprints and
ids), every candidate's validation ROC-AUC (`val_<candidate>_roc_auc`), the chosen one's holdout
metrics (`roc_auc`, ..., `ece`) next to the baselines' on the *same* holdout rows, plots and the
model; promotion then re-scores the current champion on this holdout
(`churnrec.training.promotion`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from churnrec import columns as C
from churnrec.models.churn import BTYDFeatures, BTYDKind, ChurnModel, ChurnModelConfig
from churnrec.progress import say, stage
from churnrec.settings import (
    BTYD_FIT_CUSTOMERS,
    HORIZON_DAYS,
    N_TRAIN_CUTOFFS,
    STEP_DAYS,
    TRAIN_CUSTOMERS_PER_CUTOFF,
)
from churnrec.store.packaging import log_churnrec_model
from churnrec.training.churn_metrics import (
    baseline_metrics,
    churn_metrics,
    expected_calibration_error,
    recency_rule_scores,
)
from churnrec.training.datasets import (
    TrainingFrames,
    build_training_frames,
    data_span,
    model_feature_columns,
)
from churnrec.training.errors import SkippedTraining
from churnrec.training.splits import CutoffPlan, plan_cutoffs
from churnrec.workspace import Workspace

EXPERIMENT = "churn"
REGISTERED_NAME = "churn"
HEADLINE_METRIC = "roc_auc"
RECENCY_BASELINE = "recency"


class ChurnTrainConfig(BaseModel):
    """What the churn job trains on and how; `model` holds the learners' hyper-parameters."""

    model_config = ConfigDict(extra="forbid")

    horizon_days: int = Field(
        HORIZON_DAYS, ge=1, description="churned = no order within this many days"
    )
    n_train_cutoffs: int = Field(N_TRAIN_CUTOFFS, ge=1)
    # 30 rather than the horizon: with a long horizon (CDNOW: 181 days) there is otherwise room
    # for one training cut-off only; overlapping windows measured better (BENCHMARKS.md).
    step_days: int | None = Field(
        STEP_DAYS, ge=1, description="days between training cut-offs (None: the horizon)"
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
    logistic_candidate: bool = Field(
        True,
        description="also fit a logistic regression on recency, repeat days and tenure "
        "(models.logistic_churn); it competes with the trees on validation",
    )
    max_train_customers_per_cutoff: int | None = Field(
        TRAIN_CUSTOMERS_PER_CUTOFF,
        ge=1,
        description="training rows per training cut-off: a seeded random customer sample when "
        "there are more (validation and holdout rows are never sampled; None: all)",
    )
    btyd_fit_customers: int | None = Field(
        BTYD_FIT_CUSTOMERS,
        ge=1,
        description="BG/NBD and Pareto/NBD parameters (features and rules) are fitted on a "
        "random sample of this many customers per cut-off; everyone is scored (None: all)",
    )
    rule_candidates: bool = Field(
        True,
        description="the simple rules compete on validation and are served when no trained "
        "model beats them (turn off only to study the trained models)",
    )
    model: ChurnModelConfig = Field(default_factory=ChurnModelConfig)


@dataclass
class ChurnTrainResult:
    run_id: str
    metrics: dict[str, float]  # holdout metrics, `<baseline>_<metric>`, `val_<candidate>_roc_auc`
    baselines: dict[str, dict[str, float]]
    learner: str  # the chosen candidate: a learner, or a rule when `is_baseline`
    promotion: object  # churnrec.training.promotion.PromotionDecision
    holdout_cutoff: date
    train_cutoffs: tuple[date, ...]
    horizon_days: int
    n_train_rows: int
    n_holdout_rows: int
    feature_names: list[str] = field(default_factory=list)
    model_uri: str = ""
    validation_cutoff: date | None = None
    is_baseline: bool = False


@dataclass
class _Candidate:
    name: str  # learner or rule name
    model: object  # ChurnModel or a models.baseline_models rule
    val_roc_auc: float
    is_baseline: bool


def compute_baselines(
    holdout: pd.DataFrame,
    plan: CutoffPlan,
    models: list[str],
    fit_customers: int | None = None,
    fitted_here: BTYDFeatures | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray], dict[str, object]]:
    """Metrics and scores of the recency rule and each CLV model on the holdout rows.

    Each CLV model is fitted on the holdout snapshot (history up to the holdout cut-off: the
    same purchase summary as `features.btyd.build_btyd_summary`); the fits come back too, so a
    rule chosen on validation is served with exactly the scores reported here. A CLV model that
    cannot be fitted on this data is left out with a message, not fatal.
    """

    y = holdout[C.CHURNED].to_numpy(dtype="float64")
    scores: dict[str, np.ndarray] = {RECENCY_BASELINE: recency_rule_scores(holdout)}
    metrics = {RECENCY_BASELINE: baseline_metrics(y, scores[RECENCY_BASELINE], probabilities=False)}
    fitted: dict[str, object] = {}
    for name in models:
        try:
            rule = _btyd_rule(holdout, name, plan.horizon_days, fit_customers, fitted_here)
        except (ValueError, RuntimeError, ArithmeticError) as exc:
            say(f"[churnrec] churn: {name} baseline skipped: {exc}")
            continue
        s = rule.predict_proba(holdout)
        fitted[name], scores[name] = rule, s
        metrics[name] = baseline_metrics(y, s, probabilities=True)
        metrics[name]["ece"] = expected_calibration_error(s, y)
    return metrics, scores, fitted


def _btyd_rule(
    rows: pd.DataFrame,
    kind: str,
    horizon_days: int,
    fit_customers: int | None,
    fitted_here: BTYDFeatures | None,
):
    """The BTYD churn rule on these rows: reused from the BTYD features' fit at the same
    cut-off (same rows, sample and seed, so the same parameters) or fitted now."""
    from churnrec.models.baseline_models import BTYDChurnBaseline

    if fitted_here is not None and kind in fitted_here.models:
        return BTYDChurnBaseline.from_fitted(rows, fitted_here.models[kind], horizon_days)
    return BTYDChurnBaseline.fit(rows, kind, horizon_days, max_customers=fit_customers)


def add_btyd_features(
    frames: TrainingFrames,
    kinds: list[str],
    horizon_days: int,
    fit_customers: int | None = None,
) -> tuple[TrainingFrames, BTYDFeatures | None, BTYDFeatures | None]:
    """Point-in-time BTYD feature columns on every frame, the holdout cut-off's fit (served
    with the model) and the validation cut-off's (None without validation), which the rules
    reuse.

    Each cut-off's rows get features from models fitted on that cut-off's snapshot rows only
    (the snapshot is history up to T, so nothing later is read). A kind that cannot be fitted
    at some cut-off is dropped everywhere with a message, so all frames always carry the same
    columns; with none left, the frames come back unchanged and None.
    """
    kinds = list(dict.fromkeys(kinds))
    if not kinds:
        return frames, None, None
    groups = [(t, rows) for t, rows in frames.train.groupby(C.AS_OF, sort=True)]
    n_train = len(groups)
    if frames.validation is not None:
        groups.append((frames.plan.validation_cutoff, frames.validation))
    groups.append((frames.plan.holdout_cutoff, frames.holdout))
    fits = []
    for as_of, rows in groups:
        fitted, failed = BTYDFeatures.fit(rows, kinds, horizon_days, max_customers=fit_customers)
        for kind, why in failed.items():
            day = pd.Timestamp(as_of).date()
            say(f"[churnrec] churn: {kind} features left out (fit at {day} failed: {why})")
        fits.append(fitted)
    usable = [k for k in kinds if all(k in f.models for f in fits)]
    if not usable:
        return frames, None, None
    fits = [BTYDFeatures({k: f.models[k] for k in usable}, horizon_days) for f in fits]

    def with_features(fit: BTYDFeatures, rows: pd.DataFrame) -> pd.DataFrame:
        return pd.concat(
            [rows.drop(columns=fit.columns, errors="ignore"), fit.transform(rows)], axis=1
        )

    train_parts = [fit.transform(rows) for fit, (_, rows) in zip(fits[:n_train], groups[:n_train])]
    train_extra = pd.concat(train_parts).reindex(frames.train.index)
    train = pd.concat(
        [frames.train.drop(columns=fits[-1].columns, errors="ignore"), train_extra], axis=1
    )
    validation = None
    if frames.validation is not None:
        validation = with_features(fits[n_train], frames.validation)
    holdout = with_features(fits[-1], frames.holdout)
    at_validation = fits[n_train] if frames.validation is not None else None
    return (
        replace(frames, train=train, holdout=holdout, validation=validation),
        fits[-1],
        at_validation,
    )


def check_trainable(frames: TrainingFrames) -> None:
    """Skip (not crash) when the labels cannot teach or judge a churn model, saying what to try."""
    h = frames.plan.horizon_days
    parts = [("training cut-off", frames.train), ("validation cut-off", frames.validation)]
    parts.append(("holdout cut-off", frames.holdout))
    for where, rows in parts:
        if rows is None:
            continue
        rate = rows[C.CHURNED].astype("float64")
        if rate.sum() == 0:
            raise SkippedTraining(
                f"no customer churned within {h} days at any {where}; try --horizon-days "
                f"{max(7, h // 3)}"
            )
        if rate.sum() == len(rate):
            raise SkippedTraining(
                f"every customer churned within {h} days at the {where} (nobody came back); "
                f"try a longer --horizon-days than {h}"
            )


def _val_auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def _fit_candidates(
    frames: TrainingFrames,
    features: list[str],
    config: ChurnTrainConfig,
    btyd: BTYDFeatures | None = None,
) -> list[_Candidate]:
    """Every learner fitted on the training cut-offs, stopped and calibrated on validation."""
    valid = frames.validation
    y = valid[C.CHURNED].to_numpy(dtype="float64")
    out = []
    for learner in config.model.learners:
        with stage(f"churn: fit {learner}") as s:
            model = ChurnModel().fit(
                frames.train, features, config.model, learner, btyd=btyd, valid_frame=valid
            )
            # = model.predict_proba(valid, derive_btyd=False): scored once, inside the fit (the
            # validation rows carry their own cut-off's BTYD columns; nothing is re-derived)
            p = model.validation_proba
            auc = _val_auc(y, p)
            s.note(f"{model.best_iteration} trees, validation ROC-AUC {auc:.4f}")
        out.append(_Candidate(learner, model, auc, is_baseline=False))
    if config.logistic_candidate:
        from churnrec.models.logistic_churn import LogisticChurnModel

        with stage("churn: fit logistic") as s:
            model = LogisticChurnModel.fit(frames.train, valid, seed=config.model.seed)
            auc = _val_auc(y, model.predict_proba(valid))
            s.note(f"validation ROC-AUC {auc:.4f}")
        out.append(_Candidate("logistic", model, auc, is_baseline=False))
    return out


def _rule_candidates(
    frames: TrainingFrames, config: ChurnTrainConfig, fitted_here: BTYDFeatures | None = None
) -> list[_Candidate]:
    """The servable rules, judged on validation (BTYD fitted at the validation cut-off)."""
    from churnrec.models.baseline_models import RecencyChurnBaseline

    valid = frames.validation
    y = valid[C.CHURNED].to_numpy(dtype="float64")
    recency = RecencyChurnBaseline.fit(valid)
    out = [_Candidate(RECENCY_BASELINE, recency, _val_auc(y, recency.predict_proba(valid)), True)]
    for kind in config.clv_baselines:
        try:
            rule = _btyd_rule(
                valid, kind, frames.plan.horizon_days, config.btyd_fit_customers, fitted_here
            )
        except (ValueError, RuntimeError, ArithmeticError) as exc:
            say(f"[churnrec] churn: {kind} rule left out of the candidates: {exc}")
            continue
        out.append(_Candidate(kind, rule, _val_auc(y, rule.predict_proba(valid)), True))
    return out


def choose(candidates: list[_Candidate]) -> _Candidate:
    """The best trained model if it strictly beats the best rule on validation, else that rule."""
    models = [c for c in candidates if not c.is_baseline]
    rules = [c for c in candidates if c.is_baseline]
    best_rule = max(rules, key=lambda c: c.val_roc_auc) if rules else None
    best_model = max(models, key=lambda c: c.val_roc_auc) if models else None  # first wins a tie
    if best_model is None:
        return best_rule
    if best_rule is None or best_model.val_roc_auc > best_rule.val_roc_auc:
        return best_model
    return best_rule


def servable(chosen: _Candidate, holdout_rules: dict[str, object]) -> object:
    """The object to register: a BTYD rule is served as fitted on the holdout snapshot."""
    if chosen.is_baseline and chosen.name in holdout_rules:
        return holdout_rules[chosen.name]
    return chosen.model


def holdout_scorer(holdout: pd.DataFrame, challenger_p: np.ndarray):
    """Scores any churn model on these holdout rows (for the like-for-like promotion)."""
    from churnrec.training.promotion import ChampionScorer

    y = holdout[C.CHURNED].to_numpy(dtype="float64")

    def metrics(p: np.ndarray, rows: np.ndarray) -> dict[str, float]:
        yy, pp = y[rows], np.asarray(p, dtype="float64")[rows]
        return {
            HEADLINE_METRIC: _val_auc(yy, pp),
            "brier": float(np.mean((np.clip(pp, 0, 1) - yy) ** 2)),
            "ece": expected_calibration_error(pp, yy),
        }

    def predict(model) -> np.ndarray:
        return np.asarray(model.predict_proba(holdout), dtype="float64")

    return ChampionScorer(challenger=challenger_p, predict=predict, metrics=metrics, n_rows=len(y))


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


def split_ids(frames: TrainingFrames) -> dict[str, str]:
    """`train_id`, `validation_id`, `holdout_id`: cut-off(s), horizon and a label fingerprint."""
    plan, h = frames.plan, frames.plan.horizon_days
    train_key = frames.train[[C.CUSTOMER_ID, C.AS_OF, C.CHURNED]].reset_index(drop=True)
    return {
        "train_id": f"{plan.train_cutoffs[0]}..{plan.train_cutoffs[-1]}:{h}:"
        f"{_labels_fingerprint(train_key.astype({C.AS_OF: str}))}",
        "validation_id": f"{plan.validation_cutoff}:{h}:{_labels_fingerprint(frames.validation)}",
        "holdout_id": f"{plan.holdout_cutoff}:{h}:{_labels_fingerprint(frames.holdout)}",
    }


def train_churn(
    workspace: Workspace | str | Path, config: ChurnTrainConfig | None = None
) -> ChurnTrainResult:
    """Train, choose on validation, evaluate against baselines, log one run, register."""
    from churnrec.features.db import connect
    from churnrec.models.base import ModelKind
    from churnrec.training import tracking
    from churnrec.training.plots import (
        calibration_figure,
        candidates_figure,
        importance_figure,
        lift_figure,
        roc_figure,
    )
    from churnrec.training.promotion import (
        CHURN_GUARDS,
        TAG_BASELINE_STRATEGY,
        TAG_IS_BASELINE,
        register_and_promote,
    )

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
            f"train {', '.join(map(str, plan.train_cutoffs))}; validation "
            f"{plan.validation_cutoff}; holdout {plan.holdout_cutoff} "
            f"(+{plan.horizon_days} days, data to {plan.observed_until}; {plan.windows} windows)"
        )
    with stage("churn: training frames") as s:
        frames = build_training_frames(
            con,
            plan,
            max_customers_per_cutoff=config.max_train_customers_per_cutoff,
            seed=config.model.seed,
        )
        s.note(
            f"{len(frames.train):,} train (of {frames.n_train_rows_before_sample:,}), "
            f"{len(frames.validation):,} validation, {len(frames.holdout):,} holdout rows"
        )
    check_trainable(frames)
    btyd = btyd_at_validation = None
    if config.btyd_features:
        with stage("churn: BTYD features") as s:
            frames, btyd, btyd_at_validation = add_btyd_features(
                frames, config.btyd_features, plan.horizon_days, config.btyd_fit_customers
            )
            s.note(
                "none (every fit failed)"
                if btyd is None
                else f"{', '.join(btyd.kinds)} fitted at {len(plan.train_cutoffs) + 2} cut-offs"
            )
    features = [f for f in model_feature_columns(frames.train) if f in frames.holdout.columns]

    with stage("churn: baselines") as s:
        baselines, baseline_scores, holdout_rules = compute_baselines(
            frames.holdout, plan, list(config.clv_baselines), config.btyd_fit_customers, btyd
        )
        s.note(", ".join(f"{k} ROC-AUC {v['roc_auc']:.4f}" for k, v in baselines.items()))

    candidates = _fit_candidates(frames, features, config, btyd)
    if config.rule_candidates:
        with stage("churn: rule candidates"):
            candidates += _rule_candidates(frames, config, btyd_at_validation)
    chosen = choose(candidates)
    model = servable(chosen, holdout_rules)
    say(
        f"[churnrec] churn: chose {chosen.name} on validation (ROC-AUC {chosen.val_roc_auc:.4f}; "
        + ", ".join(f"{c.name} {c.val_roc_auc:.4f}" for c in candidates)
        + ")"
    )
    with stage("churn: score holdout"):
        y = frames.holdout[C.CHURNED].to_numpy(dtype="float64")
        # every trained candidate scored once: its holdout ROC-AUC is reported (never used to
        # choose), and the chosen one's scores are also the run's
        learner_p = {
            c.name: np.asarray(c.model.predict_proba(frames.holdout), dtype="float64")
            for c in candidates
            if not c.is_baseline
        }
        if chosen.is_baseline:
            p_holdout = np.asarray(model.predict_proba(frames.holdout), dtype="float64")
        else:
            p_holdout = learner_p[chosen.name]
        metrics = churn_metrics(y, p_holdout)
        metrics["ece"] = expected_calibration_error(p_holdout, y)

        ids = split_ids(frames)
        extra = {f"val_{c.name}_roc_auc": c.val_roc_auc for c in candidates}
        extra["val_roc_auc"] = chosen.val_roc_auc
        extra.update({f"{name}_roc_auc": _val_auc(y, p) for name, p in learner_p.items()})
    extra.update(
        n_train_rows=float(len(frames.train)),
        n_validation_rows=float(len(frames.validation)),
        n_holdout_rows=float(len(frames.holdout)),
        holdout_churn_rate=float(y.mean()),
        train_churn_rate=float(frames.train[C.CHURNED].astype("float64").mean()),
        max_tied_probability_share=float(pd.Series(p_holdout).value_counts().max() / len(y)),
    )
    if hasattr(model, "best_iteration"):
        extra["best_iteration"] = float(model.best_iteration)
    baseline_tags = {
        TAG_IS_BASELINE: str(chosen.is_baseline).lower(),
        TAG_BASELINE_STRATEGY: chosen.name if chosen.is_baseline else "none",
    }

    with (
        stage("churn: log run") as s,
        tracking.start_run(
            ws,
            EXPERIMENT,
            run_name=f"churn {plan.holdout_cutoff} h{plan.horizon_days}",
            tags={"learner": chosen.name, **baseline_tags},
        ) as run,
    ):
        run_id = run.info.run_id
        tracking.log_params(
            {
                **config.model_dump(mode="json", exclude={"model"}),
                "model": config.model.model_dump(mode="json"),
                "chosen_learner": chosen.name,
                "btyd_features_used": ",".join(btyd.kinds) if btyd else "none",
                "train_cutoffs": ",".join(map(str, plan.train_cutoffs)),
                "validation_cutoff": str(plan.validation_cutoff),
                "plan_holdout_cutoff": str(plan.holdout_cutoff),
                "train_labels_until": str(plan.train_observed_until),
                "label_windows": plan.windows,
                "observed_until": str(plan.observed_until),
                "train_rows_before_sample": frames.n_train_rows_before_sample,
                **ids,
            }
        )
        source = ws.orders_path
        tracking.log_dataset(frames.train, name="churn_train", context="training", source=source)
        tracking.log_dataset(
            frames.validation, name="churn_validation", context="validation", source=source
        )
        tracking.log_dataset(frames.holdout, name="churn_holdout", context="holdout", source=source)
        tracking.log_metrics_with_baselines(metrics, baselines)
        import mlflow

        mlflow.log_metrics(extra)
        tracking.log_feature_list(getattr(model, "feature_names", None) or model.input_columns)
        tracking.log_figure(roc_figure(y, {"model": p_holdout, **baseline_scores}), "roc.png")
        tracking.log_figure(calibration_figure(y, p_holdout), "calibration.png")
        tracking.log_figure(lift_figure(y, {"model": p_holdout, **baseline_scores}), "lift.png")
        tracking.log_figure(
            candidates_figure({c.name: c.val_roc_auc for c in candidates}, chosen.name),
            "candidates.png",
        )
        if hasattr(model, "feature_importances"):
            tracking.log_figure(importance_figure(model.feature_importances()), "importance.png")
        model_uri = log_churnrec_model(
            model,
            ModelKind.CHURN,
            input_example=input_example(frames.holdout, model.input_columns),
        )
        promotion = register_and_promote(
            ws,
            model_uri,
            name=REGISTERED_NAME,
            run_id=run_id,
            metric=HEADLINE_METRIC,
            value=metrics[HEADLINE_METRIC],
            higher_is_better=True,
            holdout_id=ids["holdout_id"],
            guards=CHURN_GUARDS,
            score_champion=holdout_scorer(frames.holdout, p_holdout),
            tags=baseline_tags,
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
        learner=chosen.name,
        promotion=promotion,
        holdout_cutoff=plan.holdout_cutoff,
        train_cutoffs=plan.train_cutoffs,
        horizon_days=plan.horizon_days,
        n_train_rows=len(frames.train),
        n_holdout_rows=len(frames.holdout),
        feature_names=features,
        model_uri=model_uri,
        validation_cutoff=plan.validation_cutoff,
        is_baseline=chosen.is_baseline,
    )
