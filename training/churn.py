"""The `churn` training job: the learners and the servable rules compete on validation.

Every choice is made on the validation cut-off and the holdout is only scored; a trained model
serves only when it beats the best rule. BTYD fits at each cut-off (history up to T) are features.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from churnrec import columns as C
from churnrec.models.base import ModelKind
from churnrec.models.churn import BTYDFeatures, BTYDKind, ChurnModel, ChurnModelConfig
from churnrec.progress import say, stage
from churnrec.settings import (
    BTYD_FIT_CUSTOMERS,
)
from churnrec.training.churn_metrics import (
    baseline_metrics,
    churn_metrics,
    recency_rule_scores,
)
from churnrec.training.datasets import (
    TrainingFrames,
    float_example,
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
    fit_candidates,
    run_job,
    snapshot_frames,
)
from churnrec.training.minimum_data import MinimumData
from churnrec.training.promotion import CHURN_GUARDS
from churnrec.training.splits import CutoffPlan
from churnrec.training.survival_metrics import expected_calibration_error
from churnrec.workspace import Workspace

HEADLINE_METRIC = "roc_auc"
RECENCY_BASELINE = "recency"
LOGISTIC = "logistic"


class ChurnTrainConfig(SnapshotTrainConfig):
    """What the churn job trains on and how; `model` holds the learners' hyper-parameters."""

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
    minimum_data: MinimumData = Field(
        default_factory=lambda: MinimumData(
            customers=100, history_days=180, positives=20, negatives=20
        ),
        description="checked before training (training.minimum_data); positives / negatives: churned / retained rows on the training cut-offs",
    )


def compute_baselines(
    holdout: pd.DataFrame,
    plan: CutoffPlan,
    models: list[str],
    fit_customers: int | None = None,
    fitted_here: BTYDFeatures | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray], dict[str, object]]:
    """Metrics, scores and fits of the recency rule and each BTYD model on the holdout rows; the
    fits come back so a rule chosen on validation serves with exactly these scores. A model that
    cannot be fitted here is left out with a message."""

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
    """BTYD feature columns on every frame, each fitted on its own cut-off's rows only, plus the
    holdout fit (served) and the validation fit (reused by the rules). A kind that fails at any
    cut-off is dropped everywhere, so all frames carry the same columns."""
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
    at_validation = fits[n_train] if frames.validation is not None else None
    validation = None if at_validation is None else with_features(at_validation, frames.validation)
    holdout = with_features(fits[-1], frames.holdout)
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


def fit_option(
    name: str,
    prep: _Prepared,
    config: ChurnTrainConfig,
    train: pd.DataFrame,
    stop: pd.DataFrame,
    rule_rows: pd.DataFrame,
    rule_btyd: BTYDFeatures | None,
) -> Any:
    """One candidate learned from `train` and stopped and calibrated on `stop` (the recency rule
    fits `stop`, a BTYD rule `rule_rows`): the one recipe for choosing and for the refit."""
    from churnrec.models.baseline_models import RecencyChurnBaseline
    from churnrec.models.logistic_churn import LogisticChurnModel

    if name == RECENCY_BASELINE:
        return RecencyChurnBaseline.fit(stop)
    if name == LOGISTIC:
        return LogisticChurnModel.fit(train, stop, seed=config.model.seed)
    if name in config.clv_baselines:
        h, n = prep.frames.plan.horizon_days, config.btyd_fit_customers
        return _btyd_rule(rule_rows, name, h, n, rule_btyd)
    return ChurnModel().fit(
        train, prep.features, config.model, name, btyd=prep.btyd, valid_frame=stop
    )


def candidate_makers(
    prep: _Prepared, config: ChurnTrainConfig
) -> dict[str, Callable[[], Candidate]]:
    """How to fit each candidate on the training cut-offs and judge it on validation: every
    learner (early-stopped and calibrated on validation), the logistic model and the rules."""
    valid = prep.frames.validation
    y = valid[C.CHURNED].to_numpy(dtype="float64")
    trained = [*config.model.learners, *([LOGISTIC] if config.logistic_candidate else [])]
    rules = [RECENCY_BASELINE, *config.clv_baselines] if config.rule_candidates else []

    def make(name: str) -> Candidate:
        train, at_validation = prep.frames.train, prep.btyd_at_validation
        model = fit_option(name, prep, config, train, valid, valid, at_validation)
        # a learner is scored inside its fit (validation rows carry their own cut-off's BTYD)
        p = model.validation_proba if isinstance(model, ChurnModel) else model.predict_proba(valid)
        return Candidate(name, model, _val_auc(y, p), is_rule=name in rules)

    return {name: functools.partial(make, name) for name in [*trained, *rules]}


def refit_for_serving(prep: _Prepared, chosen: Candidate, config: ChurnTrainConfig) -> object:
    """The chosen configuration, fitted one step later: the training and validation rows
    train it, the holdout rows (outcomes to the newest day) stop and calibrate it; a BTYD
    rule is fitted on everyone's history up to the newest day."""
    frames = prep.frames
    rows = frames.holdout
    if chosen.name in config.clv_baselines:
        from churnrec.features.snapshot import build_customer_snapshot

        rows = build_customer_snapshot(prep.con, frames.plan.observed_until)
    train = pd.concat([frames.train, frames.validation], ignore_index=True)
    return fit_option(chosen.name, prep, config, train, frames.holdout, rows, None)


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

    return ChampionScorer(
        challenger=challenger_p,
        predict=lambda model: np.asarray(model.predict_proba(holdout), dtype="float64"),
        metrics=metrics,
        n_rows=len(y),
    )


@dataclass
class _Prepared:
    """The churn job's frames with their BTYD columns, and the fits that travel with them."""

    con: Any
    frames: TrainingFrames
    features: list[str]
    btyd: BTYDFeatures | None
    btyd_at_validation: BTYDFeatures | None


def prepare(ws: Workspace, config: ChurnTrainConfig) -> _Prepared:
    """Plan the cut-offs, build the labelled frames and add the point-in-time BTYD columns."""
    from churnrec.features.db import connect

    con = connect(ws)
    frames = snapshot_frames(
        con,
        ModelKind.CHURN,
        config,
        check_trainable,
        lambda train: train[C.CHURNED].astype("float64"),
        ("churned rows on the training cut-offs", "retained rows on the training cut-offs"),
    )
    plan = frames.plan
    btyd = btyd_at_validation = None
    if config.btyd_features:
        with stage("churn: BTYD features") as s:
            frames, btyd, btyd_at_validation = add_btyd_features(
                frames, config.btyd_features, plan.horizon_days, config.btyd_fit_customers
            )
            n = len(plan.train_cutoffs) + 2
            s.note("none (every fit failed)" if btyd is None else f"{btyd.kinds} at {n} cut-offs")
    features = [f for f in model_feature_columns(frames.train) if f in frames.holdout.columns]
    return _Prepared(con, frames, features, btyd, btyd_at_validation)


def evaluate(ws: Workspace, config: ChurnTrainConfig) -> Evaluation:
    """Choose on validation, measure on the holdout, refit one step later for serving."""
    prep = prepare(ws, config)
    frames, plan = prep.frames, prep.frames.plan
    with stage("churn: baselines") as s:
        baselines, baseline_scores, holdout_rules = compute_baselines(
            frames.holdout, plan, list(config.clv_baselines), config.btyd_fit_customers, prep.btyd
        )
        s.note(", ".join(f"{k} ROC-AUC {v['roc_auc']:.4f}" for k, v in baselines.items()))
    candidates, _ = fit_candidates("churn", candidate_makers(prep, config))
    chosen = choose(candidates, SPEC.headline)
    # measured on the holdout: a BTYD rule as fitted on the holdout snapshot, the rest as fitted
    measured = holdout_rules.get(chosen.name, chosen.model) if chosen.is_rule else chosen.model
    with stage(f"churn: {chosen.name} refit through {plan.observed_until}"):
        served = refit_for_serving(prep, chosen, config)
    return holdout_report(prep, candidates, chosen, measured, served, baselines, baseline_scores)


def holdout_report(
    prep: _Prepared,
    candidates: list[Candidate],
    chosen: Candidate,
    measured: object,
    served: object,
    baselines: dict[str, dict[str, float]],
    baseline_scores: dict[str, np.ndarray],
) -> Evaluation:
    """The measured fit's holdout metrics, every trained candidate's holdout ROC-AUC (reported,
    never used to choose), plots and the run's bookkeeping."""
    from churnrec.store.plots import (
        calibration_figure,
        importance_figure,
        lift_figure,
        roc_figure,
    )

    frames, plan = prep.frames, prep.frames.plan
    holdout = frames.holdout
    y = holdout[C.CHURNED].to_numpy(dtype="float64")
    p = np.asarray(measured.predict_proba(holdout), dtype="float64")
    metrics = churn_metrics(y, p)
    metrics["ece"] = expected_calibration_error(p, y)
    extra = {
        f"{c.name}_roc_auc": _val_auc(y, np.asarray(c.model.predict_proba(holdout), "float64"))
        for c in candidates
        if not c.is_rule
    }
    extra.update(
        val_roc_auc=chosen.val_score,
        n_train_rows=float(len(frames.train)),
        n_validation_rows=float(len(frames.validation)),
        n_holdout_rows=float(len(holdout)),
        holdout_churn_rate=float(y.mean()),
        train_churn_rate=float(frames.train[C.CHURNED].astype("float64").mean()),
        max_tied_probability_share=float(pd.Series(p).value_counts().max() / len(y)),
    )
    if isinstance(served, ChurnModel):
        extra["best_iteration"] = float(served.best_iteration)
    figures = {
        "roc.png": roc_figure(y, {"model": p, **baseline_scores}),
        "calibration.png": calibration_figure(y, p),
        "lift.png": lift_figure(y, {"model": p, **baseline_scores}),
    }
    if hasattr(served, "feature_importances"):
        figures["importance.png"] = importance_figure(served.feature_importances())
    ids = fold_ids(frames, [C.CHURNED])
    columns = getattr(served, "feature_names", None) or served.input_columns
    return Evaluation(
        chosen=chosen,
        metrics=metrics,
        baselines=baselines,
        served=served,
        measured=measured,
        input_example=float_example(holdout, served.input_columns),
        holdout_id=ids["holdout_id"],
        **plan.evaluation_dates(),
        candidates=candidates,
        extra=extra,
        params={
            **plan.ids(),
            **ids,
            "btyd_features_used": ",".join(prep.btyd.kinds) if prep.btyd else "none",
            "observed_until": str(plan.observed_until),
            "train_rows_before_sample": frames.n_train_rows_before_sample,
        },
        scorer=holdout_scorer(holdout, p),
        baseline_predictions=dict(baseline_scores),
        datasets=[
            (frames.train, "churn_train", "training"),
            (frames.validation, "churn_validation", "validation"),
            (holdout, "churn_holdout", "holdout"),
        ],
        figures=figures,
        feature_names=list(columns),
        run_name=f"churn {plan.holdout_cutoff} h{plan.horizon_days}",
        run_tags={"learner": chosen.name},
    )


SPEC = JobSpec(
    kind=ModelKind.CHURN,
    headline=Metric(HEADLINE_METRIC, higher_is_better=True),
    baselines=(RECENCY_BASELINE, "bgnbd", "paretonbd"),
    evaluate=evaluate,
    guards=CHURN_GUARDS,
)


def train_churn(workspace: Workspace | str | Path, config: ChurnTrainConfig | None = None):
    """Run the churn job through the shared runner (`training.job.run_job`)."""
    return run_job(SPEC, Workspace.at(workspace), config or ChurnTrainConfig())
