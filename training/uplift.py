"""The `uplift` training job: who does a campaign move, learned from a past randomised one.

Rows: the customers of one campaign in the treatment or the control arm, with the observed
outcome (`converted`, `revenue` or `visited`). Features: the point-in-time customer snapshot
at the send date minus one day (nothing from the campaign window or later) plus the customer
attributes of `data/customers.parquet`.

Customers are split by a hash of their id: 50% fit, 20% validation (the T- vs X-learner choice
is made here, on the Qini coefficient), 30% held out. The chosen learner is refitted on fit +
validation and reported once on the held-out customers next to random targeting (`ate`) and
today's practice, targeting by churn risk (`risk_targeting_uplift_at_30`): the churn champion's
P(churn) when the workspace has one and the customers have history, else recency.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from churnrec import columns as C
from churnrec.models.uplift import UpliftConfig, UpliftModel, uplift_frame
from churnrec.progress import say, stage
from churnrec.training.uplift_metrics import uplift_at, uplift_metrics
from churnrec.training.value_jobs import ValueTrainingError
from churnrec.workspace import Workspace

EXPERIMENT = "uplift"
REGISTERED_NAME = "uplift"
HEADLINE_METRIC = "qini"
OUTCOMES = (C.CONVERTED, C.REVENUE, C.VISITED)
TREATED = "_treated"


class UpliftTrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    campaign_id: str
    treatment: str
    control: str | None = None
    outcome: str = C.CONVERTED
    learners: list[str] = Field(default_factory=lambda: ["t", "x"])
    validation_share: float = Field(0.2, gt=0, lt=1)
    holdout_share: float = Field(0.3, gt=0, lt=1)
    model: UpliftConfig = Field(default_factory=UpliftConfig)


@dataclass
class UpliftTrainResult:
    run_id: str
    metrics: dict[str, float]
    learner: str
    promotion: object
    risk_source: str
    validation: dict[str, float] = field(default_factory=dict)


def _guess_control(arms: list[str], treatment: str) -> str:
    for arm in arms:
        name = arm.lower().replace("-", " ").replace("_", " ")
        if arm != treatment and any(w in name for w in ("control", "holdout", "no e mail", "none")):
            return arm
    raise ValueTrainingError(f"cannot tell the control arm among {arms}; pass --control ARM")


def campaign_rows(ws: Workspace, config: UpliftTrainConfig) -> tuple[pd.DataFrame, str]:
    """Treatment and control rows of the campaign with `_treated`; the control arm's name."""
    path = ws.table_path(C.CAMPAIGNS)
    if not path.exists():
        raise ValueTrainingError(f"no campaigns table at {path}; ingest one with --campaigns FILE")
    frame = pd.read_parquet(path)
    rows = frame[frame[C.CAMPAIGN_ID].astype(str) == config.campaign_id]
    if rows.empty:
        known = sorted(frame[C.CAMPAIGN_ID].astype(str).unique())[:20]
        raise ValueTrainingError(f"campaign {config.campaign_id!r} not in {path}; known: {known}")
    arms = sorted(rows[C.ARM].astype(str).unique())
    if config.treatment not in arms:
        raise ValueTrainingError(f"--treatment {config.treatment!r} is not an arm of {arms}")
    control = config.control or _guess_control(arms, config.treatment)
    if control not in arms or control == config.treatment:
        raise ValueTrainingError(f"--control {control!r} is not another arm of {arms}")
    if config.outcome not in OUTCOMES:
        raise ValueTrainingError(f"--outcome must be one of {OUTCOMES}, got {config.outcome!r}")
    if config.outcome not in rows.columns or rows[config.outcome].isna().all():
        raise ValueTrainingError(
            f"campaign {config.campaign_id!r} has no {config.outcome!r} outcomes in {path}"
        )
    rows = rows[rows[C.ARM].isin([config.treatment, control])]
    rows = rows[rows[config.outcome].notna()].copy()
    rows[C.CUSTOMER_ID] = rows[C.CUSTOMER_ID].astype(str)
    rows[TREATED] = (rows[C.ARM] == config.treatment).to_numpy()
    return rows.drop_duplicates(C.CUSTOMER_ID, keep="first").reset_index(drop=True), control


def read_customers(ws: Workspace) -> pd.DataFrame | None:
    path = ws.data_dir / f"{C.CUSTOMERS}.parquet"
    return pd.read_parquet(path) if path.exists() else None


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

    has_history = "recency_days" in features and features["recency_days"].notna().mean() > 0.5
    if has_history:
        try:
            churn = load_champion(ws, "churn").model
            known = features["recency_days"].notna().to_numpy()
            scores = np.full(len(features), -1.0)
            scores[known] = churn.predict_proba(features[known])
            return scores, "churn_champion"
        except (ModelNotFoundError, ValueError, KeyError) as exc:
            say(f"[churnrec] uplift: churn champion not usable for risk targeting ({exc})")
        return features["recency_days"].to_numpy(dtype="float64", na_value=-1.0), "recency_days"
    if "recency" in features:
        return features["recency"].to_numpy(dtype="float64", na_value=-1.0), "recency"
    return np.zeros(len(features)), "none"


def train_uplift(workspace: Workspace | str | Path, config: UpliftTrainConfig) -> UpliftTrainResult:
    """Choose a meta-learner on validation customers, report on held-out ones, register it."""
    from churnrec.models.base import ModelKind
    from churnrec.store.packaging import log_churnrec_model
    from churnrec.training import tracking
    from churnrec.training.promotion import register_and_promote

    ws = Workspace.at(workspace)
    with stage("uplift: campaign rows and features at the send date") as s:
        rows, control = campaign_rows(ws, config)
        features = features_at_send(ws, rows)
        y = rows[config.outcome].to_numpy(dtype="float64")
        t = rows[TREATED].to_numpy()
        part = split_customers(rows[C.CUSTOMER_ID], config.validation_share, config.holdout_share)
        s.note(f"{len(rows):,} customers ({t.sum():,} treated), {features.shape[1] - 1} columns")
    if t.all() or not t.any():
        raise ValueTrainingError("the campaign rows need both treated and control customers")

    validation: dict[str, float] = {}
    fit, val, hold = (part == "fit"), (part == "validation"), (part == "holdout")
    with stage("uplift: choose learner on validation customers") as s:
        for learner in config.learners:
            model = _model(learner, config, control).fit(features[fit], t[fit], y[fit])
            score = model.predict(features[val])
            validation[learner] = uplift_metrics(y[val], t[val], score)["qini"]
        chosen = max(validation, key=lambda k: (validation[k], k == config.learners[0]))
        s.note(
            ", ".join(f"{k}-learner qini {v:.5f}" for k, v in validation.items()) + f" -> {chosen}"
        )
    with stage("uplift: refit and score held-out customers"):
        train = fit | val
        final = _model(chosen, config, control).fit(features[train], t[train], y[train])
        predicted = final.predict(features[hold])
        metrics = uplift_metrics(y[hold], t[hold], predicted)
        risk, risk_source = risk_scores(ws, features[hold].reset_index(drop=True))
        metrics["risk_targeting_uplift_at_30"] = uplift_at(y[hold], t[hold], risk, 0.30)
        metrics["risk_targeting_uplift_at_10"] = uplift_at(y[hold], t[hold], risk, 0.10)
    holdout_rows = rows.loc[hold, [C.CUSTOMER_ID, TREATED, config.outcome]].reset_index(drop=True)
    fingerprint = tracking.dataset_fingerprint(holdout_rows.astype({TREATED: "int64"}))
    holdout_id = f"{config.campaign_id}:{config.treatment}:{control}:{config.outcome}:{fingerprint}"
    extra = {f"validation_qini_{k}": v for k, v in validation.items()}
    extra.update(n_fit=float(train.sum()), n_holdout=float(hold.sum()))

    with (
        stage("uplift: log run") as s,
        tracking.start_run(
            ws,
            EXPERIMENT,
            run_name=f"uplift {config.campaign_id} {config.treatment}",
            tags={"learner": chosen, "campaign_id": config.campaign_id},
        ) as run,
    ):
        import mlflow

        tracking.log_params(
            {
                **config.model_dump(mode="json", exclude={"model"}),
                "model": config.model.model_dump(mode="json"),
                "control_arm": control,
                "chosen_learner": chosen,
                "risk_score_source": risk_source,
                "holdout_id": holdout_id,
            }
        )
        mlflow.log_metrics({**metrics, **extra})
        tracking.log_feature_list(final.input_columns)
        example = (
            features[hold].head(5).reset_index(drop=True)[[C.CUSTOMER_ID, *final.input_columns]]
        )
        example = example.astype({c: "float64" for c in final.numeric})
        model_uri = log_churnrec_model(final, ModelKind.UPLIFT, input_example=example)
        promotion = register_and_promote(
            ws,
            model_uri,
            name=REGISTERED_NAME,
            run_id=run.info.run_id,
            metric=HEADLINE_METRIC,
            value=metrics[HEADLINE_METRIC],
            higher_is_better=True,
            holdout_id=holdout_id,
        )
        s.note(f"run {run.info.run_id}, uplift v{promotion.version} @{promotion.alias}")
    return UpliftTrainResult(
        run.info.run_id, {**metrics, **extra}, chosen, promotion, risk_source, validation
    )


def _model(learner: str, config: UpliftTrainConfig, control: str) -> UpliftModel:
    return UpliftModel(
        learner,
        config.outcome,
        config.model,
        campaign_id=config.campaign_id,
        treatment=config.treatment,
        control=control,
    )
