"""`churnrec train`: run the requested training jobs in order and collect their outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from churnrec.progress import say
from churnrec.training.config import load_train_config
from churnrec.training.errors import SkippedTraining
from churnrec.workspace import Workspace

# The metric each kind is judged (and promoted) on, for the summary.
HEADLINE_METRIC = {"churn": "roc_auc", "repurchase": "concordance", "recommender": "ndcg_at_10"}
# Every simple rule each kind is compared with on the same holdout (metric key prefixes).
BASELINES = {
    "churn": ("recency", "bgnbd", "paretonbd"),
    "repurchase": ("baseline", "gap_remaining"),
    "recommender": ("popularity", "buy_again", "decayed_buy_again", "als"),
}


@dataclass
class TrainOutcome:
    kind: str
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    promotion: Any = None  # churnrec.training.promotion.PromotionDecision
    skipped: str | None = None
    served_rule: str | None = None  # baseline metric prefix of the rule that is served, if any

    def baseline_scores(self) -> dict[str, float]:
        key = HEADLINE_METRIC[self.kind]
        return {
            b: self.metrics[f"{b}_{key}"]
            for b in BASELINES[self.kind]
            if f"{b}_{key}" in self.metrics
        }

    def baselines_not_beaten(self) -> list[str]:
        """Baselines whose holdout score the served answer does not exceed (should be none).

        A served rule is not compared with itself; it ties with itself by definition.
        """
        value = self.metrics.get(HEADLINE_METRIC[self.kind], float("nan"))
        return [
            b for b, v in self.baseline_scores().items() if b != self.served_rule and not value > v
        ]

    def summary_line(self) -> str:
        if self.skipped:
            return f"{self.kind:<12} skipped: {self.skipped}"
        key = HEADLINE_METRIC[self.kind]
        parts = [f"{key}={self.metrics.get(key, float('nan')):.4f}"]
        parts += [f"{b}_{key}={v:.4f}" for b, v in self.baseline_scores().items()]
        promo = ""
        if self.served_rule:
            promo = (
                f" (serving the {self.served_rule} rule: no trained model beat it on validation)"
            )
        if self.promotion is not None:
            promo = f" -> {self.kind} v{self.promotion.version} @{self.promotion.alias}"
        warning = ""
        if lost := self.baselines_not_beaten():
            warning = f"  WARNING: does not beat {', '.join(lost)} on this holdout"
        return f"{self.kind:<12} run {self.run_id}: " + ", ".join(parts) + promo + warning


@dataclass
class TrainResults:
    workspace: Workspace
    outcomes: list[TrainOutcome]

    def summary_lines(self) -> list[str]:
        lines = [o.summary_line() for o in self.outcomes]
        trained = [o.kind for o in self.outcomes if not o.skipped]
        skipped = [o.kind for o in self.outcomes if o.skipped]
        lines.append(
            f"trained: {', '.join(trained) or 'none'}; skipped: {', '.join(skipped) or 'none'}"
        )
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
    ws = Workspace.at(workspace)
    ws.read_manifest()  # clear error before any work if nothing was ingested
    config = load_train_config(config_path)
    from churnrec.training.promotion import close_undecided_versions
    from churnrec.training.tracking import mark_dead_runs

    mark_dead_runs(ws)  # leftovers of a killed run: runs RUNNING forever, undecided versions
    close_undecided_versions(ws, list(HEADLINE_METRIC))
    if horizon_days is not None:
        config.churn.horizon_days = horizon_days
        config.repurchase.horizon_days = horizon_days
    kinds = ["churn", "repurchase", "recommender"] if target == "all" else [target]
    outcomes = [_run_one(ws, kind, config) for kind in kinds]
    return TrainResults(ws, outcomes)


def _run_one(ws: Workspace, kind: str, config: Any) -> TrainOutcome:
    try:
        if kind == "churn":
            from churnrec.training.churn import train_churn

            result = train_churn(ws, config.churn)
        elif kind == "repurchase":
            from churnrec.training.repurchase import train_repurchase

            result = train_repurchase(ws, config.repurchase)
        elif kind == "recommender":
            from churnrec.training.recommender import train_recommender

            result = train_recommender(ws, config.recommender)
        else:
            raise ValueError(f"unknown model kind {kind!r}")
    except (SkippedTraining, *_data_errors()) as exc:
        reason = str(exc).splitlines()[0]
        say(f"[churnrec] {kind}: skipped: {reason}")
        return TrainOutcome(kind, skipped=reason)
    outcome = TrainOutcome(
        kind,
        run_id=result.run_id,
        metrics=dict(result.metrics),
        promotion=result.promotion,
        served_rule=_served_rule(kind, result),
    )
    _tag_baseline_check(ws, outcome)
    return outcome


def _data_errors() -> tuple[type[Exception], ...]:
    """What data too small or too short for a job raises: a skip with its reason, not a crash."""
    from churnrec.features.labels import LabelWindowError
    from churnrec.training.datasets import EmptyTrainingDataError
    from churnrec.training.splits import NotEnoughHistoryError

    return (NotEnoughHistoryError, EmptyTrainingDataError, LabelWindowError)


def _served_rule(kind: str, result: Any) -> str | None:
    """The baseline metric prefix of a rule the job registered instead of a trained model."""
    if not getattr(result, "is_baseline", False):
        return None
    if kind == "churn":
        return str(result.learner)
    if kind == "repurchase":
        return {"median_gap": "baseline"}.get(result.days_source, result.days_source)
    return getattr(result, "baseline_strategy", None)


def _tag_baseline_check(ws: Workspace, outcome: TrainOutcome) -> None:
    """Record on the run whether the model beat every simple rule, so the UI can filter."""
    from churnrec.store.registry import tracking_client

    lost = outcome.baselines_not_beaten()
    client = tracking_client(ws)
    client.set_tag(outcome.run_id, "beats_baselines", str(not lost).lower())
    if lost:
        client.set_tag(outcome.run_id, "baselines_not_beaten", ",".join(lost))
        say(f"[churnrec] WARNING: {outcome.kind} does not beat {', '.join(lost)} on the holdout")
