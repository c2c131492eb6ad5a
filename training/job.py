"""One training contract: a kind declares what differs in a `JobSpec` and hands back one
`Evaluation`; `run_job` does what is the same for every kind, so the copies cannot drift.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from churnrec.features.labels import LabelWindowError
from churnrec.models.base import ModelKind
from churnrec.progress import say, stage
from churnrec.settings import HORIZON_DAYS, N_TRAIN_CUTOFFS, STEP_DAYS, TRAIN_CUSTOMERS_PER_CUTOFF
from churnrec.store.registry import Tag, tracking_client
from churnrec.training.datasets import EmptyTrainingDataError, TrainingFrames, planned_frames
from churnrec.training.errors import SkippedTraining
from churnrec.training.minimum_data import check_orders, check_outcomes
from churnrec.training.promotion import ChampionScorer, Guard, PromotionDecision, better
from churnrec.training.quality import Quality, assess
from churnrec.training.splits import NotEnoughHistoryError, TimeSplitter
from churnrec.workspace import Workspace

# What data too small or too short for a job raises: a skip with its reason, not a crash.
DATA_ERRORS = (SkippedTraining, NotEnoughHistoryError, EmptyTrainingDataError, LabelWindowError)
_NOT_MLFLOW_KEY = re.compile(r"[^\w.-]")


@dataclass(frozen=True)
class Metric:
    """A kind's headline metric: what it is chosen and promoted on, and which way is better."""

    key: str
    higher_is_better: bool = True

    def better(self, a: float, b: float) -> bool:
        """Strictly better; NaN never is."""
        return better(a, b, self.higher_is_better)


@dataclass
class Candidate:
    """One fitted option judged on validation: a learner setting or a servable simple rule."""

    name: str
    model: Any
    val_score: float
    is_rule: bool = False


def choose(candidates: Sequence[Candidate], metric: Metric) -> Candidate:
    """The best trained candidate when it strictly beats the best rule on validation, else
    that rule. Earlier candidates win ties (list the preferred one first)."""
    if not candidates:
        raise SkippedTraining("no candidate could be fitted on this data")

    def best(group: list[Candidate]) -> Candidate | None:
        top = None
        for c in group:
            if top is None or metric.better(c.val_score, top.val_score):
                top = c
        return top

    model = best([c for c in candidates if not c.is_rule])
    rule = best([c for c in candidates if c.is_rule])
    return best([c for c in (rule, model) if c is not None])  # type: ignore[return-value]


def fit_candidates(
    kind: str, makers: Mapping[str, Callable[[], Candidate]]
) -> tuple[list[Candidate], dict[str, str]]:
    """Fit each candidate; one that fails (no finite optimum, one class only, ...) is dropped
    with its reason printed and logged, never the whole job: the one failure policy for fits."""
    fitted, dropped = [], {}
    for name, make in makers.items():
        try:
            with stage(f"{kind}: candidate {name}") as s:
                candidate = make()
                s.note(f"validation {candidate.val_score:.4f}")
        except (ValueError, RuntimeError, ArithmeticError, LookupError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            say(f"[churnrec] {kind}: candidate {name} left out: {reason}")
            dropped[name] = reason
            continue
        fitted.append(candidate)
    return fitted, dropped


@dataclass
class Evaluation:
    """What a kind's procedure hands the runner: the same shape for every kind."""

    chosen: Candidate
    metrics: dict[str, float]  # the measured fit's holdout metrics (headline among them)
    baselines: dict[str, dict[str, float]]  # every simple rule's holdout metrics, same rows
    served: Any  # the chosen configuration refitted through `trained_through`
    measured: Any  # the fit the metrics are of (logged for later like-for-like re-scoring)
    input_example: pd.DataFrame
    holdout_id: str
    trained_through: date  # last day of outcomes the served fit learned from
    evaluated_on: str  # `START..END` of the holdout window
    holdout_start: date  # the first day the measured fit never saw
    candidates: list[Candidate] = field(default_factory=list)
    selected_on: str = ""  # the validation metric candidates were chosen on (default: headline)
    # True when `scorer` re-anchors the champion on the challenger's history itself, so its
    # served fit can be re-scored whatever it was trained through (the recommender)
    scorer_reanchors: bool = False
    extra: dict[str, float] = field(default_factory=dict)  # validation scores, row counts, ...
    params: dict[str, Any] = field(default_factory=dict)
    scorer: ChampionScorer | None = None
    # baselines' predictions on the scorer's rows, in its shape: the quality band's paired
    # interval against the best of them (`training.quality`); a baseline left out is compared
    # on its point metric only
    baseline_predictions: dict[str, Any] = field(default_factory=dict)
    datasets: list[tuple[pd.DataFrame, str, str]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    documents: dict[str, Any] = field(default_factory=dict)  # json artifacts
    feature_names: list[str] | None = None
    run_name: str = ""
    run_tags: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # extra summary lines


@dataclass(frozen=True)
class JobSpec:
    """Everything that differs between kinds; the runner does the rest."""

    kind: ModelKind
    headline: Metric
    baselines: tuple[str, ...]  # metric prefixes of the simple rules reported beside it
    evaluate: Callable[[Workspace, Any], Evaluation]
    guards: tuple[Guard, ...] = ()
    # why the kind cannot run on this workspace/config (None: it can); checked before any work
    unsupported: Callable[[Workspace, Any], str | None] | None = None


@dataclass
class JobResult:
    """The outcome of one kind's job, in one shape for every kind."""

    kind: str
    headline: Metric = field(default_factory=lambda: Metric(""))
    baseline_names: tuple[str, ...] = ()
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # headline + `<baseline>_<metric>`
    chosen: str = ""
    is_rule: bool = False
    promotion: PromotionDecision | None = None
    trained_through: date | None = None
    evaluated_on: str = ""
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    model_uri: str = ""  # the served model's pyfunc in its run
    feature_names: list[str] = field(default_factory=list)
    quality: Quality | None = None

    @property
    def served_rule(self) -> str | None:
        return self.chosen if self.is_rule else None

    def baseline_scores(self) -> dict[str, float]:
        key = self.headline.key
        return {
            b: self.metrics[f"{b}_{key}"]
            for b in self.baseline_names
            if f"{b}_{key}" in self.metrics
        }

    def baselines_not_beaten(self) -> list[str]:
        """Baselines whose holdout score the served answer does not strictly beat; a served
        rule need only tie with its own plain scores (an inverted Platt slope scores below)."""
        value = self.metrics.get(self.headline.key, float("nan"))
        lost = []
        for b, v in self.baseline_scores().items():
            if b == self.served_rule:
                if math.isnan(value) or self.headline.better(v, value):
                    lost.append(b)
            elif not self.headline.better(value, v):
                lost.append(b)
        return lost

    def summary_line(self) -> str:
        if self.skipped:
            return f"{self.kind:<12} skipped: {self.skipped}"
        key = self.headline.key
        parts = [f"{key}={self.metrics.get(key, float('nan')):.4f}"]
        parts += [f"{b}_{key}={v:.4f}" for b, v in self.baseline_scores().items()]
        if self.quality is not None:
            parts.append(f"quality: {self.quality.band}")
        promo = ""
        if self.served_rule:
            promo = (
                f" (serving the {self.served_rule} rule: no trained model beat it on validation)"
            )
        if self.promotion is not None:
            promo += f" -> {self.kind} v{self.promotion.version} @{self.promotion.alias}"
        if self.trained_through is not None:
            promo += f"; trained through {self.trained_through}, evaluated on {self.evaluated_on}"
        warning = ""
        if lost := self.baselines_not_beaten():
            warning = f"  WARNING: does not beat {', '.join(lost)} on this holdout"
        return f"{self.kind:<12} run {self.run_id}: " + ", ".join(parts) + promo + warning


def validation_scores(candidates: Sequence[Candidate], metric: str) -> dict[str, float]:
    """`val_<candidate>_<metric>` per candidate, under keys MLflow accepts."""
    return {
        f"val_{_NOT_MLFLOW_KEY.sub('_', c.name).strip('_')}_{metric}": c.val_score
        for c in candidates
    }


def run_job(
    spec: JobSpec, ws: Workspace, section: Any, run_tags: Mapping[str, str] | None = None
) -> JobResult:
    """Evaluate the kind, then track, package, register and promote it the one shared way;
    `run_tags` (the refresh step) let a killed step's versions be found and undone."""
    empty = JobResult(spec.kind.value, spec.headline, spec.baselines)
    try:
        why = spec.unsupported(ws, section) if spec.unsupported else None
        if why:
            raise SkippedTraining(why)
        evaluation = spec.evaluate(ws, section)
    except DATA_ERRORS as exc:
        reason = str(exc).splitlines()[0]
        say(f"[churnrec] {spec.kind.value}: skipped: {reason}")
        empty.skipped = reason
        return empty
    from churnrec.training.publish import publish  # it imports this module

    if run_tags:
        evaluation.run_tags = {**evaluation.run_tags, **run_tags}
    quality = None
    try:
        with stage(f"{spec.kind.value}: quality on the holdout") as s:
            quality = assess(spec, evaluation)
            s.note(f"{quality.band}: {quality.reason}")
    except (ValueError, ArithmeticError, LookupError, TypeError) as exc:  # unknown, not bad
        say(f"[churnrec] WARNING: {spec.kind.value}: no quality band ({exc}); shown as unknown")
    run_id, model_uri, promotion = publish(spec, ws, section, evaluation, quality)
    metrics = dict(evaluation.metrics)
    for name, values in evaluation.baselines.items():
        metrics.update({f"{name}_{k}": v for k, v in values.items()})
    metrics.update(evaluation.extra)
    selected_on = evaluation.selected_on or spec.headline.key
    metrics.update(validation_scores(evaluation.candidates, selected_on))
    result = JobResult(
        spec.kind.value,
        spec.headline,
        spec.baselines,
        run_id=run_id,
        metrics=metrics,
        chosen=evaluation.chosen.name,
        is_rule=evaluation.chosen.is_rule,
        promotion=promotion,
        trained_through=evaluation.trained_through,
        evaluated_on=evaluation.evaluated_on,
        notes=list(evaluation.notes),
        params=dict(evaluation.params),
        model_uri=model_uri,
        feature_names=list(evaluation.feature_names or []),
        quality=quality,
    )
    _tag_baseline_check(ws, result)
    return result


def _tag_baseline_check(ws: Workspace, result: JobResult) -> None:
    """Record on the run whether the served answer beat every simple rule (UI filter)."""
    lost = result.baselines_not_beaten()
    client = tracking_client(ws)
    client.set_tag(result.run_id, Tag.BEATS_BASELINES, str(not lost).lower())
    if lost:
        client.set_tag(result.run_id, Tag.BASELINES_NOT_BEATEN, ",".join(lost))
        say(f"[churnrec] WARNING: {result.kind} does not beat {', '.join(lost)} on the holdout")


class SnapshotTrainConfig(BaseModel):
    """The cut-off plan and training sample of a kind learned from labelled snapshots; the kind
    adds its `model` settings (with a `seed`) and `minimum_data`."""

    model_config = ConfigDict(extra="forbid")

    horizon_days: int = Field(
        HORIZON_DAYS, ge=1, description="the outcome (churned, next order) within this many days"
    )
    n_train_cutoffs: int = Field(N_TRAIN_CUTOFFS, ge=1)
    # 30 rather than the horizon: with a long horizon (CDNOW: 181 days) there is otherwise room
    # for one training cut-off only; overlapping windows measured better (BENCHMARKS.md).
    step_days: int | None = Field(
        STEP_DAYS, ge=1, description="days between training cut-offs (None: the horizon)"
    )
    holdout_cutoff: date | None = Field(None, description="default: last order date - horizon")
    max_train_customers_per_cutoff: int | None = Field(
        TRAIN_CUSTOMERS_PER_CUTOFF,
        ge=1,
        description="training rows per training cut-off: a seeded random customer sample when "
        "there are more (validation and holdout rows are never sampled; None: all)",
    )


def splitter(config: SnapshotTrainConfig) -> TimeSplitter:
    return TimeSplitter(
        horizon_days=config.horizon_days,
        n_train_cutoffs=config.n_train_cutoffs,
        step_days=config.step_days,
        holdout_cutoff=config.holdout_cutoff,
    )


def snapshot_frames(
    con: Any,
    kind: ModelKind,
    config: SnapshotTrainConfig,
    trainable: Callable[[TrainingFrames], None],
    positive: Callable[[pd.DataFrame], pd.Series],
    outcomes: tuple[str, str],
) -> TrainingFrames:
    """The labelled frames of the planned cut-offs, checked before any fit: `trainable`
    (labels that can teach), then the minimum orders and `positive` training rows."""
    frames = planned_frames(
        con,
        splitter(config),
        kind.value,
        max_customers_per_cutoff=config.max_train_customers_per_cutoff,
        seed=config.model.seed,
    )
    trainable(frames)
    check_orders(kind.value, config.minimum_data, con)
    n_positive = int(positive(frames.train).sum())
    n_negative = len(frames.train) - n_positive
    check_outcomes(kind.value, config.minimum_data, n_positive, n_negative, outcomes)
    return frames
