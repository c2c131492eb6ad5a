"""The `uplift` training job: who does a campaign move, learned from a past randomised one.

Features are the snapshot the day before the send date; the learner is chosen on validation
customers (by id hash), and held-out ones measure it next to random and churn-risk targeting.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from churnrec import columns as C
from churnrec.columns import Feature
from churnrec.models.base import ModelKind
from churnrec.models.uplift import UpliftConfig, UpliftModel, uplift_frame
from churnrec.progress import say, stage
from churnrec.scores.value_columns import read_customers
from churnrec.store.quality import HOLDOUT_CALIBRATION_FILE
from churnrec.store.tracking import dataset_fingerprint
from churnrec.training.errors import TrainingRequestError
from churnrec.training.job import (
    Candidate,
    Evaluation,
    JobSpec,
    Metric,
    choose,
    fit_candidates,
    run_job,
)
from churnrec.training.minimum_data import MinimumData, check_outcomes
from churnrec.training.promotion import ChampionScorer, Guard
from churnrec.training.splits import fold_id
from churnrec.training.uplift_metrics import holdout_calibration, uplift_metrics
from churnrec.workspace import Workspace

HEADLINE_METRIC = "qini"
UPLIFT_GUARDS = (Guard("uplift_at_30", True, 0.01),)
OUTCOMES = (C.CONVERTED, C.REVENUE, C.VISITED)
TREATED = "_treated"


class UpliftTrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    campaign_id: str | None = Field(None, description="the past randomised campaign")
    treatment: str | None = Field(None, description="its treated arm")
    control: str | None = None
    outcome: str = C.CONVERTED
    learners: list[str] = Field(default_factory=lambda: ["t", "x"])
    validation_share: float = Field(0.2, gt=0, lt=1)
    holdout_share: float = Field(0.3, gt=0, lt=1)
    model: UpliftConfig = Field(default_factory=UpliftConfig)
    minimum_data: MinimumData = Field(
        default_factory=lambda: MinimumData(positives=50, negatives=50),
        description="checked before training (training.minimum_data); positives / negatives: treated / control customers in the campaign",
    )


def _guess_control(arms: list[str], treatment: str) -> str:
    for arm in arms:
        name = arm.lower().replace("-", " ").replace("_", " ")
        if arm != treatment and any(w in name for w in ("control", "holdout", "no e mail", "none")):
            return arm
    raise TrainingRequestError(f"cannot tell the control arm among {arms}; pass --control ARM")


def campaign_rows(ws: Workspace, config: UpliftTrainConfig) -> tuple[pd.DataFrame, str]:
    """Treatment and control rows of the campaign with `_treated`; the control arm's name."""
    path = ws.table_path(C.CAMPAIGNS)
    if not path.exists():
        raise TrainingRequestError(
            f"no campaigns table at {path}; ingest one with --campaigns FILE"
        )
    frame = pd.read_parquet(path)
    rows = frame[frame[C.CAMPAIGN_ID].astype(str) == config.campaign_id]
    if rows.empty:
        known = sorted(frame[C.CAMPAIGN_ID].astype(str).unique())[:20]
        raise TrainingRequestError(f"campaign {config.campaign_id!r} not in {path}; known: {known}")
    arms = sorted(rows[C.ARM].astype(str).unique())
    if config.treatment not in arms:
        raise TrainingRequestError(f"--treatment {config.treatment!r} is not an arm of {arms}")
    control = config.control or _guess_control(arms, config.treatment)
    if control not in arms or control == config.treatment:
        raise TrainingRequestError(f"--control {control!r} is not another arm of {arms}")
    if config.outcome not in OUTCOMES:
        raise TrainingRequestError(f"--outcome must be one of {OUTCOMES}, got {config.outcome!r}")
    if config.outcome not in rows.columns or rows[config.outcome].isna().all():
        raise TrainingRequestError(
            f"campaign {config.campaign_id!r} has no {config.outcome!r} outcomes in {path}"
        )
    rows = rows[rows[C.ARM].isin([config.treatment, control])]
    rows = rows[rows[config.outcome].notna()].copy()
    rows[C.CUSTOMER_ID] = rows[C.CUSTOMER_ID].astype(str)
    rows[TREATED] = (rows[C.ARM] == config.treatment).to_numpy()
    return rows.drop_duplicates(C.CUSTOMER_ID, keep="first").reset_index(drop=True), control


def features_at_send(ws: Workspace, rows: pd.DataFrame) -> pd.DataFrame:
    """Per row: snapshot at (send date - 1 day) + customer attributes, aligned with `rows`."""
    from churnrec.features.db import connect
    from churnrec.features.snapshot import build_customer_snapshot

    customers = read_customers(ws)
    con = connect(ws) if (ws.data_dir / f"{C.ORDERS}.parquet").exists() else None
    parts = []
    for day, group in rows.groupby(pd.to_datetime(rows[C.SENT_AT]).dt.normalize(), sort=True):
        as_of = (day - timedelta(days=1)).date()
        snapshot = build_customer_snapshot(con, as_of) if con is not None else None
        frame = uplift_frame(snapshot, customers)
        parts.append(group[[C.CUSTOMER_ID]].merge(frame, on=C.CUSTOMER_ID, how="left"))
    out = pd.concat(parts, ignore_index=True)
    return rows[[C.CUSTOMER_ID]].merge(out, on=C.CUSTOMER_ID, how="left", validate="one_to_one")


def split_customers(ids: pd.Series, validation: float, holdout: float) -> np.ndarray:
    """'fit' / 'validation' / 'holdout' per customer, from a hash of the id (stable)."""
    u = np.array([int(hashlib.sha256(f"uplift|{c}".encode()).hexdigest()[:8], 16) for c in ids])
    u = u / 0xFFFFFFFF
    return np.where(u < holdout, "holdout", np.where(u < holdout + validation, "validation", "fit"))


def risk_scores(ws: Workspace, features: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Churn risk per row as a team would target today: churn champion, else recency."""
    from churnrec.store.registry import ModelNotFoundError, load_champion

    has_history = (
        Feature.RECENCY_DAYS in features and features[Feature.RECENCY_DAYS].notna().mean() > 0.5
    )
    if has_history:
        try:
            churn = load_champion(ws, "churn").model
            known = features[Feature.RECENCY_DAYS].notna().to_numpy()
            scores = np.full(len(features), -1.0)
            scores[known] = churn.predict_proba(features[known])
            return scores, "churn_champion"
        except (ModelNotFoundError, ValueError, KeyError) as exc:
            say(f"[churnrec] uplift: churn champion not usable for risk targeting ({exc})")
    column = Feature.RECENCY_DAYS if has_history else "recency"
    if column in features:
        return features[column].to_numpy(dtype="float64", na_value=-1.0), column
    return np.zeros(len(features)), "none"


def evaluate(ws: Workspace, config: UpliftTrainConfig) -> Evaluation:
    """Choose a meta-learner on validation customers, measure it on held-out ones (refitted on
    fit + validation), and serve it refitted on every customer of the campaign."""
    with stage("uplift: campaign rows and features at the send date") as s:
        rows, control = campaign_rows(ws, config)
        features = features_at_send(ws, rows)
        y = rows[config.outcome].to_numpy(dtype="float64")
        t = rows[TREATED].to_numpy()
        part = split_customers(rows[C.CUSTOMER_ID], config.validation_share, config.holdout_share)
        s.note(f"{len(rows):,} customers ({t.sum():,} treated), {features.shape[1] - 1} columns")
    if t.all() or not t.any():
        raise TrainingRequestError("the campaign rows need both treated and control customers")
    check_outcomes(
        ModelKind.UPLIFT.value,
        config.minimum_data,
        int(t.sum()),
        int((~t.astype(bool)).sum()),
        ("treated customers", "control customers"),
    )
    fit, val, hold = (part == "fit"), (part == "validation"), (part == "holdout")

    def make(learner: str) -> Candidate:
        model = _model(learner, config, control).fit(features[fit], t[fit], y[fit])
        score = model.predict(features[val])
        return Candidate(learner, model, uplift_metrics(y[val], t[val], score)["qini"])

    candidates, _ = fit_candidates(ModelKind.UPLIFT, {k: partial(make, k) for k in config.learners})
    chosen = choose(candidates, SPEC.headline)
    with stage("uplift: refit and score held-out customers"):
        train = fit | val
        measured = _model(chosen.name, config, control).fit(features[train], t[train], y[train])
        predicted = measured.predict(features[hold])
        metrics = uplift_metrics(y[hold], t[hold], predicted)
        risk, risk_source = risk_scores(ws, features[hold].reset_index(drop=True))
        risk_targeting = uplift_metrics(y[hold], t[hold], risk)
        served = _model(chosen.name, config, control).fit(features, t, y)
    sent = pd.to_datetime(rows[C.SENT_AT]).dt.date
    holdout_rows = rows.loc[hold, [C.CUSTOMER_ID, TREATED, config.outcome]].reset_index(drop=True)
    fingerprint = dataset_fingerprint(holdout_rows.astype({TREATED: "int64"}))
    example = features[hold].head(5).reset_index(drop=True)[[C.CUSTOMER_ID, *served.input_columns]]
    return Evaluation(
        chosen=chosen,
        metrics=metrics,
        baselines={
            "risk_targeting": risk_targeting,
            "random": {"qini": 0.0, "uplift_at_10": metrics["ate"], "uplift_at_30": metrics["ate"]},
        },
        served=served,
        measured=measured,
        input_example=example.astype({c: "float64" for c in served.numeric}),
        holdout_id=fold_id(
            f"{config.campaign_id}:{config.treatment}:{control}:{config.outcome}",
            "held-out customers",
            fingerprint,
        ),
        trained_through=sent.max(),
        evaluated_on=f"{sent[hold].min()}..{sent[hold].max()}",
        holdout_start=sent[hold].min(),
        candidates=candidates,
        extra={"n_fit": float(train.sum()), "n_holdout": float(hold.sum())},
        params={"control_arm": control, "risk_score_source": risk_source},
        scorer=holdout_scorer(features[hold], y[hold], t[hold], predicted),
        # random targeting's qini is 0 by definition: a constant for the paired interval
        baseline_predictions={"risk_targeting": np.asarray(risk, dtype="float64"), "random": 0.0},
        run_name=f"uplift {config.campaign_id} {config.treatment}",
        run_tags={"learner": chosen.name, "campaign_id": str(config.campaign_id)},
        documents={HOLDOUT_CALIBRATION_FILE: holdout_calibration(y[hold], t[hold], predicted)},
        notes=[f"{chosen.name}-learner chosen on validation customers; risk = {risk_source}"],
    )


def holdout_scorer(
    rows: pd.DataFrame, y: np.ndarray, treated: np.ndarray, challenger: np.ndarray
) -> ChampionScorer:
    """Scores any uplift model on these held-out customers (like-for-like promotion)."""

    def metrics(score: np.ndarray, idx: np.ndarray) -> dict[str, float]:
        m = uplift_metrics(y[idx], treated[idx], np.asarray(score)[idx])
        return {HEADLINE_METRIC: m["qini"], "uplift_at_30": m["uplift_at_30"]}

    return ChampionScorer(
        challenger=np.asarray(challenger),
        predict=lambda model: np.asarray(model.predict(rows)),
        metrics=metrics,
        n_rows=len(y),
    )


def unsupported(ws: Workspace, config: UpliftTrainConfig) -> str | None:
    if not config.campaign_id or not config.treatment:
        return "no campaign named (train uplift needs --campaign CAMPAIGN_ID and --treatment ARM)"
    return None


SPEC = JobSpec(
    kind=ModelKind.UPLIFT,
    headline=Metric(HEADLINE_METRIC, higher_is_better=True),
    baselines=("risk_targeting", "random"),
    evaluate=evaluate,
    guards=UPLIFT_GUARDS,
    unsupported=unsupported,
)


def train_uplift(workspace: Workspace | str | Path, config: UpliftTrainConfig):
    """Run the uplift job through the shared runner (`training.job.run_job`)."""
    return run_job(SPEC, Workspace.at(workspace), config)


def _model(learner: str, config: UpliftTrainConfig, control: str) -> UpliftModel:
    return UpliftModel(
        learner,
        config.outcome,
        config.model,
        campaign_id=config.campaign_id,
        treatment=config.treatment,
        control=control,
    )
