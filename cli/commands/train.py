"""Train churn, repurchase and recommender models on the ingested data; track them in MLflow.

Every run is logged to the workspace's MLflow store (mlruns/) next to simple baselines on the
same time-based holdout, and registered; it becomes `champion` only if it beats the current one.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from churnrec.cli.commands._errors import exit_on_user_error


class Target(StrEnum):
    churn = "churn"
    repurchase = "repurchase"
    recommender = "recommender"
    all = "all"


def command(
    target: Target = typer.Argument(Target.all, help="Which model to train."),
    workspace: Path = typer.Option(Path("."), "--workspace", help="Workspace folder."),
    config: Path | None = typer.Option(
        None, "--config", help="YAML file with churn/repurchase/recommender sections."
    ),
    horizon_days: int | None = typer.Option(
        None, "--horizon-days", min=1, help="Label horizon in days (churn and repurchase)."
    ),
) -> None:
    from churnrec.training.jobs import train_models

    with exit_on_user_error():
        results = train_models(
            workspace, target=target.value, config_path=config, horizon_days=horizon_days
        )
    for line in results.summary_lines():
        typer.echo(line)
