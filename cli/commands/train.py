"""Train churn, repurchase and recommender models on the ingested data; track them in MLflow.

Every run is logged to the workspace's MLflow store (mlruns/) next to simple baselines on the
same time-based holdout, and registered; it becomes `champion` only if it beats the current one.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from churnrec.cli.commands._errors import exit_on_user_error
from churnrec.cli.commands._ingest_options import refuse_half_committed


class Target(StrEnum):
    churn = "churn"
    repurchase = "repurchase"
    recommender = "recommender"
    all = "all"
    clv = "clv"
    uplift = "uplift"


def command(
    target: Target = typer.Argument(Target.all, help="Which model to train."),
    workspace: Path = typer.Option(Path("."), "--workspace", help="Workspace folder."),
    config: Path | None = typer.Option(
        None, "--config", help="YAML file with churn/repurchase/recommender sections."
    ),
    horizon_days: int | None = typer.Option(
        None, "--horizon-days", min=1, help="Label horizon in days (churn and repurchase)."
    ),
    campaign: str | None = typer.Option(None, "--campaign", help="uplift: past campaign id."),
    treatment: str | None = typer.Option(None, "--treatment", help="uplift: treated arm."),
    control: str | None = typer.Option(None, "--control", help="uplift: control arm."),
    outcome: str = typer.Option(
        "converted", "--outcome", help="uplift: converted|revenue|visited."
    ),
) -> None:
    refuse_half_committed(workspace)  # no reading of a half-finished ingest commit
    from churnrec.training.jobs import train_models

    if target in (Target.clv, Target.uplift):  # retention-value models: training/value_jobs.py
        from churnrec.cli.commands._errors import register_user_error
        from churnrec.training.value_jobs import USER_ERRORS, train_value

        register_user_error(*USER_ERRORS)
        with exit_on_user_error():
            lines = train_value(
                workspace, target.value, horizon_days, campaign, treatment, control, outcome
            )
        for line in lines:
            typer.echo(line)
        return

    with exit_on_user_error():
        results = train_models(
            workspace, target=target.value, config_path=config, horizon_days=horizon_days
        )
    for line in results.summary_lines():
        typer.echo(line)
