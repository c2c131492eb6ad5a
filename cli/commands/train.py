"""Train churnrec's models on the ingested data; track them in MLflow.

Every kind goes through one runner (`churnrec.training.job.run_job`): chosen on a validation
window, measured on a later holdout next to simple baselines on the same rows, refitted through
the newest data for serving, registered, and promoted only if it beats the current champion.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from churnrec.cli.commands._errors import exit_on_user_error
from churnrec.cli.commands._ingest_options import refuse_half_committed
from churnrec.models.base import ModelKind


class Target(StrEnum):
    all = "all"
    churn = "churn"
    repurchase = "repurchase"
    recommender = "recommender"
    clv = "clv"
    uplift = "uplift"
    demand = "demand"


class Level(StrEnum):
    item = "item"
    category = "category"
    all = "all"


def command(
    target: Target = typer.Argument(
        Target.all,
        help="Which model to train: all (every kind the data supports; uplift when "
        "--campaign is given), churn, repurchase, recommender, clv, uplift or demand.",
    ),
    workspace: Path = typer.Option(Path("."), "--workspace", help="Workspace folder."),
    config: Path | None = typer.Option(
        None,
        "--config",
        help="YAML file with a section per kind (churn, repurchase, recommender, clv, uplift, "
        "demand).",
    ),
    horizon_days: int | None = typer.Option(
        None, "--horizon-days", min=1, help="Label horizon in days (churn, repurchase, clv)."
    ),
    campaign: str | None = typer.Option(None, "--campaign", help="uplift: past campaign id."),
    treatment: str | None = typer.Option(None, "--treatment", help="uplift: treated arm."),
    control: str | None = typer.Option(None, "--control", help="uplift: control arm."),
    outcome: str | None = typer.Option(
        None, "--outcome", help="uplift: converted|revenue|visited (default converted)."
    ),
    horizon_weeks: int | None = typer.Option(
        None, "--horizon-weeks", min=1, max=52, help="demand: forecast the next H weeks (8)."
    ),
    level: Level | None = typer.Option(
        None, "--level", help="demand: item|category|all, where the headline is measured."
    ),
) -> None:
    refuse_half_committed(workspace)  # no reading of a half-finished ingest commit
    from churnrec.cli.commands._errors import register_user_error
    from churnrec.training.config import load_train_config
    from churnrec.training.errors import TrainingRequestError
    from churnrec.training.jobs import train_models

    register_user_error(TrainingRequestError)
    with exit_on_user_error():
        loaded = (
            load_train_config(config)
            .with_updates(
                ModelKind.UPLIFT,
                campaign_id=campaign,
                treatment=treatment,
                control=control,
                outcome=outcome,
            )
            .with_updates(
                ModelKind.DEMAND,
                horizon_weeks=horizon_weeks,
                level=level.value if level else None,
            )
        )
        results = train_models(
            workspace, target=target.value, config=loaded, horizon_days=horizon_days
        )
    for line in results.summary_lines():
        typer.echo(line)
    if not results.trained:
        typer.echo("nothing was trained: see the reasons above", err=True)
        raise typer.Exit(1)
