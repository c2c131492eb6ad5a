"""The `clv` training job: predicted spend in the next H days, judged on a later time holdout.

BTYD vs boosted (and the Tweedie power) is chosen on validation; the horizon is the configured
one, or the longest of 365, 180 and the shared horizon that the data span allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from churnrec import columns as C
from churnrec.models.base import ModelKind
from churnrec.models.bgnbd import BTYDFitError
from churnrec.models.clv import (
    BTYD_CLV,
    HEURISTIC,
    STACK_FEATURES,
    BoostedConfig,
    BTYDValue,
    ClvModel,
)
from churnrec.models.gammagamma import GammaGammaFitError
from churnrec.progress import say, stage
from churnrec.settings import HORIZON_DAYS, MIN_HISTORY_DAYS, N_TRAIN_CUTOFFS, STEP_DAYS
from churnrec.store.tracking import dataset_fingerprint
from churnrec.training.clv_metrics import clv_metrics
from churnrec.training.datasets import data_span, float_example, validation_customers
from churnrec.training.errors import SkippedTraining
from churnrec.training.job import (
    Candidate,
    Evaluation,
    JobSpec,
    Metric,
    choose,
    fit_candidates,
    run_job,
)
from churnrec.training.minimum_data import MinimumData, check_orders
from churnrec.training.promotion import ChampionScorer, Guard
from churnrec.training.splits import CutoffPlan, TimeSplitter
from churnrec.workspace import Workspace

HEADLINE_METRIC = "clv_gini"
TARGET = "future_spend"
BTYD = "btyd"
HORIZON_CHOICES = (365, 180, HORIZON_DAYS)  # tried in order when no horizon is configured
CLV_GUARDS = (Guard("clv_spearman", True, 0.02),)


class ClvTrainConfig(BaseModel):
    """What the CLV job trains on; `tweedie_powers` are the boosted candidates tried."""

    model_config = ConfigDict(extra="forbid")

    horizon_days: int | None = Field(
        None,
        ge=1,
        description="predict spend in the next H days (None: the longest of "
        "365, 180 and the shared horizon that the data span allows)",
    )
    n_train_cutoffs: int = Field(N_TRAIN_CUTOFFS, ge=1)
    step_days: int = Field(STEP_DAYS, ge=1)
    holdout_cutoff: date | None = None
    tweedie_powers: list[float] = Field(default_factory=lambda: [1.2, 1.5])
    model: BoostedConfig = Field(default_factory=BoostedConfig)
    minimum_data: MinimumData = Field(
        default_factory=lambda: MinimumData(customers=100, history_days=120),
        description="checked before training (training.minimum_data)",
    )


def cutoff_frame(con, as_of: date, horizon_days: int) -> tuple[pd.DataFrame, BTYDValue]:
    """Snapshot at T + stacking features from a BTYD fit on that snapshot + the spend target;
    `BTYDFitError`/`GammaGammaFitError` when the BTYD parts cannot be fitted at T."""
    from churnrec.features.labels import build_spend_labels
    from churnrec.features.snapshot import build_customer_snapshot

    snapshot = build_customer_snapshot(con, as_of)
    btyd = BTYDValue.fit(snapshot)
    frame = pd.concat([snapshot, btyd.features(snapshot, horizon_days)], axis=1)
    spend = build_spend_labels(con, as_of, horizon_days)
    frame[TARGET] = frame[C.CUSTOMER_ID].map(spend).fillna(0.0).to_numpy(dtype="float64")
    return frame.sort_values(C.CUSTOMER_ID, kind="stable", ignore_index=True), btyd


def plan_for(first: date, last: date, config: ClvTrainConfig) -> CutoffPlan:
    """The configured horizon, or the longest of `HORIZON_CHOICES` the span allows."""
    horizons = [config.horizon_days] if config.horizon_days else list(HORIZON_CHOICES)
    for h in horizons:
        splitter = TimeSplitter(
            h, config.n_train_cutoffs, config.step_days, MIN_HISTORY_DAYS, config.holdout_cutoff
        )
        if h == horizons[-1] or splitter.fits(first, last):
            return splitter.plan(first, last)
    raise AssertionError("unreachable")


@dataclass
class ClvFrames:
    train: pd.DataFrame
    validation: pd.DataFrame
    holdout: pd.DataFrame
    btyd_at_holdout: BTYDValue
    plan: CutoffPlan


def build_frames(con, plan: CutoffPlan) -> ClvFrames:
    """Every cut-off's frame; a training cut-off whose BTYD fit fails is left out."""
    h = plan.horizon_days
    parts = []
    for t in plan.train_cutoffs:
        try:
            parts.append(cutoff_frame(con, t, h)[0])
        except (GammaGammaFitError, BTYDFitError, ValueError) as exc:
            say(f"[churnrec] clv: training cut-off {t} left out (BTYD fit failed: {exc})")
    try:
        validation, _ = cutoff_frame(con, plan.validation_cutoff, h)
        holdout, at_holdout = cutoff_frame(con, plan.holdout_cutoff, h)
    except (GammaGammaFitError, BTYDFitError) as exc:
        raise SkippedTraining(f"clv: BG/NBD x Gamma-Gamma cannot be fitted ({exc})") from exc
    if not parts:
        raise SkippedTraining("clv: no training cut-off could be fitted")
    train = pd.concat(parts, ignore_index=True)
    if plan.windows == "overlapping":  # validation customers never train (near duplicates)
        kept = validation_customers(validation[C.CUSTOMER_ID])
        validation = validation[kept].reset_index(drop=True)
        train = train[~train[C.CUSTOMER_ID].isin(set(validation[C.CUSTOMER_ID]))]
        train = train.reset_index(drop=True)
    return ClvFrames(train, validation, holdout, at_holdout, plan)


def _feature_names(frame: pd.DataFrame) -> list[str]:
    from churnrec.training.datasets import model_feature_columns

    base = [c for c in model_feature_columns(frame) if c not in (TARGET, *STACK_FEATURES)]
    return base + list(STACK_FEATURES)


def _candidates(config: ClvTrainConfig) -> dict[str, BoostedConfig | None]:
    out: dict[str, BoostedConfig | None] = {BTYD: None}
    for power in config.tweedie_powers:
        out[f"boosted_tweedie_{power:g}"] = config.model.model_copy(
            update={"tweedie_variance_power": power}
        )
    return out


def _fit(cfg, rows: pd.DataFrame, features: list[str], horizon: int, btyd: BTYDValue) -> ClvModel:
    """The BTYD candidate (cfg None: nothing to fit) or a boosted one fitted on `rows`."""
    if cfg is None:
        return ClvModel("btyd", horizon, btyd, features)
    return ClvModel("boosted", horizon, btyd, features, cfg).fit(rows, rows[TARGET].to_numpy())


def _gini(model: ClvModel, rows: pd.DataFrame) -> float:
    # each row keeps the stacking features of its own cut-off's fit
    return clv_metrics(rows[TARGET].to_numpy(), model.predict_stacked(rows))["gini"]


def evaluate(ws: Workspace, config: ClvTrainConfig) -> Evaluation:
    """Choose on the validation cut-off, measure on the holdout, refit on every labelled row."""
    from churnrec.features.db import connect
    from churnrec.features.snapshot import build_customer_snapshot

    con = connect(ws)
    if not con.execute(f"SELECT 1 FROM {C.ORDERS} WHERE {C.AMOUNT} IS NOT NULL LIMIT 1").fetchall():
        raise SkippedTraining("orders carry no amounts: there is no spend to predict")
    check_orders(ModelKind.CLV.value, config.minimum_data, con)
    with stage("clv: plan cut-offs and frames") as s:
        plan = plan_for(*data_span(con), config)
        f = build_frames(con, plan)
        features = [c for c in _feature_names(f.train) if c in f.holdout.columns]
        s.note(
            f"horizon {plan.horizon_days} days; {len(f.train):,} train, "
            f"{len(f.validation):,} validation, {len(f.holdout):,} holdout rows"
        )
    h, at_holdout = plan.horizon_days, f.btyd_at_holdout
    makers = {
        name: (
            lambda cfg=cfg, name=name: Candidate(
                name,
                m := _fit(cfg, f.train, features, h, at_holdout),
                _gini(m, f.validation),
                is_rule=cfg is None,
            )
        )
        for name, cfg in _candidates(config).items()
    }
    candidates, _ = fit_candidates(ModelKind.CLV, makers)
    chosen = choose(candidates, SPEC.headline)
    measured = chosen.model
    with stage(f"clv: {chosen.name} refit through {plan.observed_until}"):
        everything = pd.concat([f.train, f.validation, f.holdout], ignore_index=True)
        if chosen.is_rule:
            now = BTYDValue.fit(build_customer_snapshot(con, plan.observed_until))
            served = _fit(None, everything, features, h, now)
        else:
            served = _fit(_candidates(config)[chosen.name], everything, features, h, at_holdout)
    return holdout_report(f, features, candidates, chosen, measured, served)


def holdout_report(f: ClvFrames, features, candidates, chosen, measured, served) -> Evaluation:
    """Holdout metrics of the measured fit next to both rules on the same rows."""
    plan, holdout = f.plan, f.holdout
    y = holdout[TARGET].to_numpy()
    pred = measured.predict(holdout)
    rules = {"btyd": holdout[BTYD_CLV].to_numpy(), "heuristic": holdout[HEURISTIC].to_numpy()}
    metrics = _prefixed(y, pred)
    baselines = {name: _prefixed(y, p) for name, p in rules.items()}
    fingerprint = dataset_fingerprint(holdout[[C.CUSTOMER_ID, TARGET]])
    return Evaluation(
        chosen=chosen,
        metrics=metrics,
        baselines=baselines,
        served=served,
        measured=measured,
        input_example=float_example(holdout, served.input_columns),
        holdout_id=plan.fold_id("holdout", fingerprint),
        **plan.evaluation_dates(),
        candidates=candidates,
        extra={
            "n_train_rows": float(len(f.train)),
            "n_validation_rows": float(len(f.validation)),
            "n_holdout_rows": float(len(holdout)),
            "holdout_mean_spend": float(y.mean()),
            "holdout_share_zero": float((y == 0).mean()),
            "horizon_days": float(plan.horizon_days),
        },
        params={**plan.ids(), "horizon_days_used": plan.horizon_days},
        scorer=holdout_scorer(holdout, pred),
        baseline_predictions=rules,
        feature_names=features,
        run_name=f"clv {plan.holdout_cutoff} h{plan.horizon_days}",
        notes=[f"spend in the next {plan.horizon_days} days; chosen on validation: {chosen.name}"],
    )


def _prefixed(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {f"clv_{k}": v for k, v in clv_metrics(y, pred).items()}


def holdout_scorer(holdout: pd.DataFrame, challenger: np.ndarray) -> ChampionScorer:
    """Scores any CLV model on these holdout rows (for the like-for-like promotion)."""
    y = holdout[TARGET].to_numpy()

    def metrics(pred: np.ndarray, rows: np.ndarray) -> dict[str, float]:
        m = clv_metrics(y[rows], np.asarray(pred)[rows])
        return {"clv_gini": m["gini"], "clv_spearman": m["spearman"]}

    return ChampionScorer(
        challenger=np.asarray(challenger),
        predict=lambda model: np.asarray(model.predict(holdout)),
        metrics=metrics,
        n_rows=len(y),
    )


SPEC = JobSpec(
    kind=ModelKind.CLV,
    headline=Metric(HEADLINE_METRIC, higher_is_better=True),
    baselines=("btyd", "heuristic"),
    evaluate=evaluate,
    guards=CLV_GUARDS,
)


def train_clv(workspace: Workspace | str | Path, config: ClvTrainConfig | None = None):
    """Run the clv job through the shared runner (`training.job.run_job`)."""
    return run_job(SPEC, Workspace.at(workspace), config or ClvTrainConfig())
