"""`churnrec train`: run the requested training jobs in order and collect their outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from churnrec.progress import say
from churnrec.workspace import Workspace
from training.config import load_train_config
from training.errors import SkippedTraining

# The metric each kind is judged (and promoted) on, for the summary.
HEADLINE_METRIC = {"churn": "roc_auc", "repurchase": "concordance", "recommender": "ndcg_at_10"}
HEADLINE_BASELINES = {
    "churn": ("recency_roc_auc", "bgnbd_roc_auc"),
    "repurchase": ("baseline_concordance",),
    "recommender": ("popularity_ndcg_at_10", "buy_again_ndcg_at_10"),
}


@dataclass
class TrainOutcome:
    kind: str
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    promotion: Any = None  # training.registry.PromotionDecision
    skipped: str | None = None

    def summary_line(self) -> str:
        if self.skipped:
            return f"{self.kind:<12} skipped: {self.skipped}"
        key = HEADLINE_METRIC[self.kind]
        parts = [f"{key}={self.metrics.get(key, float('nan')):.4f}"]
        parts += [
            f"{b}={self.metrics[b]:.4f}" for b in HEADLINE_BASELINES[self.kind] if b in self.metrics
        ]
        promo = ""
        if self.promotion is not None:
            promo = f" -> {self.kind} v{self.promotion.version} @{self.promotion.alias}"
        return f"{self.kind:<12} run {self.run_id}: " + ", ".join(parts) + promo


@dataclass
class TrainResults:
    workspace: Workspace
    outcomes: list[TrainOutcome]

    def summary_lines(self) -> list[str]:
        lines = [o.summary_line() for o in self.outcomes]
        lines.append(
            f"MLflow store: {self.workspace.tracking_uri}  "
            f"(open with: mlflow ui --backend-store-uri {self.workspace.tracking_uri})"
        )
        return lines


def train_models(
    workspace: str | Path | Workspace,
    *,
    target: str = "all",
    config_path: Path | None = None,
    horizon_days: int | None = None,
) -> TrainResults:
    """Train `target` ("churn", "repurchase", "recommender" or "all") in the workspace."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace.at(workspace)
    ws.read_manifest()  # clear error before any work if nothing was ingested
    config = load_train_config(config_path)
    if horizon_days is not None:
        config.churn.horizon_days = horizon_days
        config.repurchase.horizon_days = horizon_days
    kinds = ["churn", "repurchase", "recommender"] if target == "all" else [target]
    outcomes = [_run_one(ws, kind, config) for kind in kinds]
    return TrainResults(ws, outcomes)


def _run_one(ws: Workspace, kind: str, config: Any) -> TrainOutcome:
    try:
        if kind == "churn":
            from training.churn import train_churn

            result = train_churn(ws, config.churn)
        elif kind == "repurchase":
            from training.repurchase import train_repurchase

            result = train_repurchase(ws, config.repurchase)
        elif kind == "recommender":
            from training.recommender import train_recommender

            result = train_recommender(ws, config.recommender)
        else:
            raise ValueError(f"unknown model kind {kind!r}")
    except SkippedTraining as exc:
        say(f"[churnrec] {kind}: skipped: {exc}")
        return TrainOutcome(kind, skipped=str(exc))
    return TrainOutcome(
        kind,
        run_id=result.run_id,
        metrics=dict(result.metrics),
        promotion=result.promotion,
    )
