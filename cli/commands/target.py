"""Write who to contact in the next campaign, ranked by expected incremental profit (uplift).

`churnrec target --campaign-size N` or `--budget B --cost-per-contact C [--margin M]`. Only
customers with explicit marketing consent (unknown = no); never anyone not expected to pay off.
Says what the list is expected to add.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from churnrec.cli.commands._errors import exit_on_user_error, register_user_error


def command(
    campaign_size: int | None = typer.Option(None, "--campaign-size", help="Contact at most N."),
    budget: float | None = typer.Option(None, "--budget", help="Total contact budget."),
    cost_per_contact: float = typer.Option(0.0, "--cost-per-contact", help="Cost of one contact."),
    margin: float = typer.Option(
        1.0, "--margin", help="Value of one unit of the outcome (revenue: share kept)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="CSV or Parquet (default: outputs/target_list.csv)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    workspace: Path = typer.Option(Path("."), "--workspace", help="Workspace folder."),
) -> None:
    from dataclasses import asdict

    from churnrec.serving.targeting import TargetingError, build_target_list

    register_user_error(TargetingError)
    with exit_on_user_error():
        result = build_target_list(
            workspace,
            campaign_size=campaign_size,
            budget=budget,
            cost_per_contact=cost_per_contact,
            margin=margin,
            out=out,
        )
    if as_json:
        typer.echo(json.dumps(asdict(result), default=str))  # the out Path as text
    else:
        for line in result.summary_lines():
            typer.echo(line)
