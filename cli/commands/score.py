"""Write churn scores, reasons, actions and next-purchase estimates for every customer.

Sorted by risk; customers without marketing consent are left out (and counted).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from churnrec.cli.commands._errors import exit_on_user_error


class Tier(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


def command(
    workspace: Path = typer.Option(Path("."), "--workspace", help="Workspace folder."),
    out: Path | None = typer.Option(
        None, "--out", help="CSV or Parquet file (default: outputs/churn_scores.csv)."
    ),
    min_risk: Tier | None = typer.Option(
        None, "--min-risk", help="Only customers at this risk tier or above."
    ),
) -> None:
    from churnrec.cli.commands._errors import register_user_error
    from churnrec.serving.batch import score_customers
    from churnrec.store.registry import ModelNotFoundError
    from churnrec.workspace import Workspace

    register_user_error(ModelNotFoundError, ValueError)
    with exit_on_user_error():
        result = score_customers(
            Workspace.at(workspace), out=out, min_risk=min_risk.value if min_risk else None
        )
    for line in result.summary_lines():
        typer.echo(line)
