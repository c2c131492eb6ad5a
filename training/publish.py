"""The shared tail of every training job: track the run, package both fits, register, promote.

The measured fit is logged beside the served one so a later challenger can re-score it fairly.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import mlflow

from churnrec.models.base import class_path
from churnrec.progress import stage
from churnrec.store import tracking
from churnrec.store.packaging import log_churnrec_model
from churnrec.store.plots import candidates_figure
from churnrec.store.registry import EVALUATED_MODEL_DIR, MEASURED_CLASS_FILE, Tag
from churnrec.training.job import Evaluation, JobSpec, validation_scores
from churnrec.training.promotion import PromotionDecision, register_and_promote
from churnrec.training.quality import Quality
from churnrec.workspace import Workspace


def registry_tags(evaluation: Evaluation) -> dict[str, str]:
    """Tags every version and run of every kind carries."""
    chosen = evaluation.chosen
    return {
        Tag.IS_BASELINE: str(chosen.is_rule).lower(),
        Tag.BASELINE_STRATEGY: chosen.name if chosen.is_rule else "none",
        Tag.TRAINED_THROUGH: str(evaluation.trained_through),
        Tag.EVALUATED_ON: evaluation.evaluated_on,
    }


def log_measured_fit(model: Any) -> None:
    """The measured fit as a plain run artifact (its `save` folder and its class)."""
    with tempfile.TemporaryDirectory(prefix="churnrec-measured-") as tmp:
        folder = Path(tmp) / EVALUATED_MODEL_DIR
        folder.mkdir()
        model.save(folder)
        (folder / MEASURED_CLASS_FILE).write_text(json.dumps({"class": class_path(type(model))}))
        mlflow.log_artifacts(str(folder), EVALUATED_MODEL_DIR)


def _finite(values: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(float(v))}


def publish(
    spec: JobSpec, ws: Workspace, section: Any, ev: Evaluation, quality: Quality | None = None
) -> tuple[str, str, PromotionDecision]:
    """Log one run for `ev` (with its quality band), register its served model, decide who serves."""
    kind = spec.kind.value
    tags = {**registry_tags(ev), **(quality.tags() if quality else {})}
    with (
        stage(f"{kind}: track in MLflow") as s,
        tracking.start_run(
            ws,
            kind,
            run_name=ev.run_name or f"{kind} {ev.evaluated_on}",
            tags={**tags, **ev.run_tags},
        ) as run,
    ):
        run_id = run.info.run_id
        tracking.log_params(
            {
                **section.model_dump(mode="json"),
                **ev.params,
                "chosen": ev.chosen.name,
                "holdout_id": ev.holdout_id,
                Tag.TRAINED_THROUGH: str(ev.trained_through),
                Tag.EVALUATED_ON: ev.evaluated_on,
            }
        )
        for frame, name, context in ev.datasets:
            tracking.log_dataset(frame, name=name, context=context, source=ws.orders_path)
        tracking.log_metrics_with_baselines(ev.metrics, ev.baselines)
        selected_on = ev.selected_on or spec.headline.key
        validation = validation_scores(ev.candidates, selected_on)
        mlflow.log_metrics(
            _finite({**validation, **ev.extra, **(quality.metrics() if quality else {})})
        )
        if ev.feature_names:
            tracking.log_feature_list(ev.feature_names)
        if ev.candidates:
            scores = {c.name: c.val_score for c in ev.candidates}
            figure = candidates_figure(scores, ev.chosen.name, metric=selected_on)
            tracking.log_figure(figure, "candidates.png")
        for filename, figure in ev.figures.items():
            tracking.log_figure(figure, filename)
        for filename, document in ev.documents.items():
            mlflow.log_dict(document, filename)
        model_uri = log_churnrec_model(ev.served, spec.kind, input_example=ev.input_example)
        # the measured fit is kept only where promotion may need it: a scorer that re-anchors
        # the champion itself (the recommender) never loads it, and it would hold customer ids
        if ev.measured is not None and ev.measured is not ev.served and not ev.scorer_reanchors:
            log_measured_fit(ev.measured)
        promotion = register_and_promote(
            ws,
            model_uri,
            name=kind,
            run_id=run_id,
            metric=spec.headline.key,
            value=ev.metrics[spec.headline.key],
            higher_is_better=spec.headline.higher_is_better,
            holdout_id=ev.holdout_id,
            guards=spec.guards,
            score_champion=ev.scorer,
            tags=tags,
            holdout_start=None if ev.scorer_reanchors else ev.holdout_start,
        )
        s.note(f"run {run_id}, {kind} v{promotion.version} @{promotion.alias}")
    return run_id, model_uri, promotion
