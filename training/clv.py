"""The `clv` training job: predicted spend in the next H days, judged on a later time holdout.

Split (all from `training.splits.plan_cutoffs`): training cut-offs whose H-day spend windows
end by the holdout cut-off, and the holdout cut-off whose window runs to the end of the data.
Choices (BTYD vs boosted, the Tweedie power) are made on *validation customers*: a fixed,
hashed quarter of the customers, whose rows at the training cut-offs are kept out of the
candidate fits. Every validation window ends by the holdout cut-off, so nothing after it is
looked at before the final report. The chosen candidate is then refitted on all training rows
and scored once on the holdout, next to the BG/NBD x Gamma-Gamma baseline (`btyd_clv_*`) and
the recency-discounted heuristic (`heuristic_clv_*`) on the same rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from churnrec import columns as C
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
from churnrec.progress import stage
from churnrec.training.clv_metrics import clv_metrics
from churnrec.training.errors import SkippedTraining
from churnrec.workspace import Workspace

EXPERIMENT = "clv"
REGISTERED_NAME = "clv"
HEADLINE_METRIC = "clv_gini"
TARGET = "future_spend"


class ClvTrainConfig(BaseModel):
    """What the CLV job trains on; `tweedie_powers` are the boosted candidates tried."""

    model_config = ConfigDict(extra="forbid")

    horizon_days: int = Field(365, ge=1, description="predict spend in the next H days")
    n_train_cutoffs: int = Field(4, ge=1)
    step_days: int = Field(30, ge=1)
    holdout_cutoff: date | None = None
    validation_share: float = Field(0.25, gt=0, lt=1)
    tweedie_powers: list[float] = Field(default_factory=lambda: [1.2, 1.5])
    model: BoostedConfig = Field(default_factory=BoostedConfig)


@dataclass
class ClvTrainResult:
    run_id: str
    metrics: dict[str, float]
    chosen: str
    promotion: object
    holdout_cutoff: date
    horizon_days: int
    validation: dict[str, float] = field(default_factory=dict)


def cutoff_frame(con, as_of: date, horizon_days: int) -> tuple[pd.DataFrame, BTYDValue]:
    """Snapshot at T + stacking features from a BTYD fit on that snapshot + the spend target."""
    from churnrec.features.labels import build_spend_labels
    from churnrec.features.snapshot import build_customer_snapshot

    snapshot = build_customer_snapshot(con, as_of)
    if "monetary_total" not in snapshot.columns:
        raise SkippedTraining("orders carry no amounts: there is no spend to predict")
    try:
        btyd = BTYDValue.fit(snapshot)
    except (GammaGammaFitError, BTYDFitError) as exc:
        raise SkippedTraining(
            f"clv: BG/NBD x Gamma-Gamma cannot be fitted at cut-off {as_of} ({exc}); "
            "try a shorter --horizon-days so that cut-offs have more history"
        ) from exc
    stack = btyd.features(snapshot, horizon_days)
    frame = pd.concat([snapshot, stack], axis=1)
    spend = build_spend_labels(con, as_of, horizon_days)
    frame[TARGET] = frame[C.CUSTOMER_ID].map(spend).fillna(0.0).to_numpy(dtype="float64")
    return frame.sort_values(C.CUSTOMER_ID, kind="stable", ignore_index=True), btyd


def is_validation_customer(customer_ids: pd.Series, share: float) -> np.ndarray:
    """A fixed pseudo-random share of customers, the same at every cut-off and every run."""

    def bucket(cid: str) -> float:
        return int(hashlib.sha256(cid.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF

    return np.array([bucket(str(c)) < share for c in customer_ids])


def _feature_names(frame: pd.DataFrame) -> list[str]:
    from churnrec.training.datasets import model_feature_columns

    base = [c for c in model_feature_columns(frame) if c not in (TARGET, *STACK_FEATURES)]
    return base + list(STACK_FEATURES)


def _candidates(config: ClvTrainConfig) -> dict[str, BoostedConfig | None]:
    out: dict[str, BoostedConfig | None] = {"btyd": None}
    for power in config.tweedie_powers:
        out[f"boosted_tweedie_{power:g}"] = config.model.model_copy(
            update={"tweedie_variance_power": power}
        )
    return out


def _fit(
    cfg: BoostedConfig | None,
    rows: pd.DataFrame,
    features: list[str],
    horizon: int,
    btyd: BTYDValue,
) -> ClvModel:
    if cfg is None:
        return ClvModel("btyd", horizon, btyd, features)
    """The BTYD candidate (cfg None: nothing to fit) or a boosted one fitted on `rows`."""
    return ClvModel("boosted", horizon, btyd, features, cfg).fit(rows, rows[TARGET].to_numpy())


def train_clv(
    workspace: Workspace | str | Path, config: ClvTrainConfig | None = None
) -> ClvTrainResult:
    """Choose on validation customers, refit, report on the holdout, log and register `clv`."""
    from churnrec.features.db import connect
    from churnrec.models.base import ModelKind
    from churnrec.store.packaging import log_churnrec_model
    from churnrec.training import tracking
    from churnrec.training.datasets import data_span
    from churnrec.training.promotion import register_and_promote
    from churnrec.training.splits import plan_cutoffs

    ws = Workspace.at(workspace)
    config = config or ClvTrainConfig()
    con = connect(ws)
    H = config.horizon_days
    if not con.execute(f"SELECT 1 FROM {C.ORDERS} WHERE {C.AMOUNT} IS NOT NULL LIMIT 1").fetchall():
        raise SkippedTraining("orders carry no amounts: there is no spend to predict")
    with stage("clv: plan cut-offs") as s:
        first, last = data_span(con)
        plan = plan_cutoffs(
            first,
            last,
            H,
            n_train_cutoffs=config.n_train_cutoffs,
            step_days=config.step_days,
            holdout_cutoff=config.holdout_cutoff,
        )
        s.note(f"train {', '.join(map(str, plan.train_cutoffs))}; holdout {plan.holdout_cutoff}")
    with stage("clv: frames") as s:
        parts = [cutoff_frame(con, t, H)[0] for t in plan.train_cutoffs]
        train = pd.concat(parts, ignore_index=True)
        holdout, holdout_btyd = cutoff_frame(con, plan.holdout_cutoff, H)
        features = [f for f in _feature_names(train) if f in holdout.columns]
        s.note(f"{len(train):,} train rows, {len(holdout):,} holdout rows")

    is_val = is_validation_customer(train[C.CUSTOMER_ID], config.validation_share)
    fit_rows, val_rows = train[~is_val], train[is_val]
    validation: dict[str, float] = {}
    with stage("clv: choose on validation customers") as s:
        latest_btyd = BTYDValue.fit(train[train[C.AS_OF] == train[C.AS_OF].max()])
        for name, cfg in _candidates(config).items():
            model = _fit(cfg, fit_rows, features, H, latest_btyd)
            # Each validation row keeps the stacking features of its own cut-off's fit.
            pred = model.predict_stacked(val_rows)
            validation[name] = clv_metrics(val_rows[TARGET].to_numpy(), pred)["gini"]
        chosen = max(validation, key=lambda k: (validation[k], k == "btyd"))
        s.note(", ".join(f"{k} gini {v:.4f}" for k, v in validation.items()) + f" -> {chosen}")

    with stage("clv: refit and score holdout"):
        final = _fit(_candidates(config)[chosen], train, features, H, latest_btyd)
        final = final.with_btyd(holdout_btyd)
        y = holdout[TARGET].to_numpy()
        pred = final.predict(holdout)
    metrics = {f"clv_{k}": v for k, v in clv_metrics(y, pred).items()}
    baselines = {
        "btyd": {f"clv_{k}": v for k, v in clv_metrics(y, holdout[BTYD_CLV].to_numpy()).items()},
        "heuristic": {
            f"clv_{k}": v for k, v in clv_metrics(y, holdout[HEURISTIC].to_numpy()).items()
        },
    }
    holdout_id = f"{plan.holdout_cutoff}:{H}:{tracking.dataset_fingerprint(holdout[[C.CUSTOMER_ID, TARGET]])}"
    extra = {f"validation_gini_{k}": v for k, v in validation.items()}
    extra.update(
        n_train_rows=float(len(train)),
        n_holdout_rows=float(len(holdout)),
        holdout_mean_spend=float(y.mean()),
        holdout_share_zero=float((y == 0).mean()),
    )

    with (
        stage("clv: log run") as s,
        tracking.start_run(
            ws, EXPERIMENT, run_name=f"clv {plan.holdout_cutoff} h{H}", tags={"chosen": chosen}
        ) as run,
    ):
        import mlflow

        tracking.log_params(
            {
                **config.model_dump(mode="json", exclude={"model"}),
                "model": config.model.model_dump(mode="json"),
                "chosen": chosen,
                "train_cutoffs": ",".join(map(str, plan.train_cutoffs)),
                "plan_holdout_cutoff": str(plan.holdout_cutoff),
                "holdout_id": holdout_id,
            }
        )
        tracking.log_metrics_with_baselines(metrics, baselines)
        mlflow.log_metrics(extra)
        tracking.log_feature_list(features)
        example = _input_example(holdout, final.input_columns)
        model_uri = log_churnrec_model(final, ModelKind.CLV, input_example=example)
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
        s.note(f"run {run.info.run_id}, clv v{promotion.version} @{promotion.alias}")
    all_metrics = dict(metrics)
    for name, values in baselines.items():
        all_metrics.update({f"{name}_{k}": v for k, v in values.items()})
    all_metrics.update(extra)
    return ClvTrainResult(
        run_id=run.info.run_id,
        metrics=all_metrics,
        chosen=chosen,
        promotion=promotion,
        holdout_cutoff=plan.holdout_cutoff,
        horizon_days=H,
        validation=validation,
    )


def _input_example(frame: pd.DataFrame, columns: list[str], n: int = 5) -> pd.DataFrame:
    head = frame.head(n).reset_index(drop=True)
    out = pd.DataFrame({C.CUSTOMER_ID: head[C.CUSTOMER_ID].astype(str)})
    for name in columns:
        out[name] = head[name].to_numpy(dtype="float64", na_value=np.nan)
    return out
