"""`churnrec train`: run the requested kinds through the one runner and collect their results."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from churnrec.models.base import ModelKind
from churnrec.store.tracking import mark_dead_runs
from churnrec.training.config import TrainConfig, load_train_config
from churnrec.training.job import JobResult, run_job
from churnrec.training.kinds import ALL_KINDS, job_spec
from churnrec.training.promotion import close_undecided_versions
from churnrec.workspace import Workspace

ALL = "all"


@dataclass
class TrainResults:
    workspace: Workspace
    outcomes: list[JobResult]

    @property
    def trained(self) -> list[str]:
        return [o.kind for o in self.outcomes if not o.skipped]

    def summary_lines(self) -> list[str]:
        lines = []
        for outcome in self.outcomes:
            lines.append(outcome.summary_line())
            lines += [f"{'':<12} {note}" for note in outcome.notes if not outcome.skipped]
        skipped = [o.kind for o in self.outcomes if o.skipped]
        lines.append(
            f"trained: {', '.join(self.trained) or 'none'}; skipped: {', '.join(skipped) or 'none'}"
        )
        lines.append(
            f"MLflow store: {self.workspace.tracking_uri}  "
            f"(open with: mlflow ui --backend-store-uri {self.workspace.tracking_uri})"
        )
        return lines


def train_models(
    workspace: str | Path | Workspace,
    *,
    target: str = ALL,
    config_path: Path | None = None,
    config: TrainConfig | None = None,
    horizon_days: int | None = None,
    run_tags: dict[str, str] | None = None,
) -> TrainResults:
    """Train `target` (a `ModelKind` value, or "all": every kind the data supports)."""
    ws = Workspace.at(workspace)
    if target != ModelKind.UPLIFT:  # uplift can learn from a campaign file alone
        ws.read_manifest()  # clear error before any work if nothing was ingested
    config = config or load_train_config(config_path)
    if horizon_days is not None:
        config = config.with_horizon(horizon_days)
    mark_dead_runs(ws)  # leftovers of a killed run: runs RUNNING forever, undecided versions
    close_undecided_versions(ws, [k.value for k in ModelKind])
    kinds = ALL_KINDS if target == ALL else (ModelKind(target),)
    outcomes = [run_job(job_spec(kind), ws, config.section(kind), run_tags) for kind in kinds]
    return TrainResults(ws, outcomes)
