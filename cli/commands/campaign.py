"""Read out a past campaign against its control arm, or size a new one.

`churnrec campaign readout CAMPAIGN_ID [--control ARM] [--json]`: per arm customers,
conversion, revenue per customer and visits; lift with 95% intervals and p-values; a
sample-ratio-mismatch check; the minimum detectable effect. Logged to MLflow (`campaigns`).
`churnrec campaign plan --baseline-rate R --mde D`: customers needed per arm.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer

from churnrec.cli.commands._errors import exit_on_user_error, register_user_error


class Action(StrEnum):
    readout = "readout"
    plan = "plan"


def command(
    action: Action = typer.Argument(..., help="readout: judge a campaign; plan: size one."),
    campaign_id: str | None = typer.Argument(None, help="readout: the campaign id."),
    control: str | None = typer.Option(None, "--control", help="Control arm (default: guessed)."),
    window_days: int = typer.Option(
        14, "--window-days", min=1, help="Days after sent_at for outcomes derived from orders."
    ),
    intended_split: str | None = typer.Option(
        None, "--intended-split", help="Intended shares, e.g. 'email=0.8,control=0.2' (equal)."
    ),
    baseline_rate: float | None = typer.Option(
        None, "--baseline-rate", help="plan: control conversion rate, e.g. 0.05."
    ),
    mde: float | None = typer.Option(
        None, "--mde", help="plan: smallest absolute change worth detecting, e.g. 0.01."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    no_log: bool = typer.Option(False, "--no-log", help="readout: do not log to MLflow."),
    workspace: Path = typer.Option(Path("."), "--workspace", help="Workspace folder."),
) -> None:
    from churnrec.insights.campaigns import (
        ALPHA,
        POWER,
        CampaignError,
        campaign_readout,
        jsonable,
        parse_split,
        sample_size,
    )

    register_user_error(CampaignError)
    with exit_on_user_error():
        if action is Action.plan:
            if baseline_rate is None or mde is None:
                raise CampaignError("campaign plan needs --baseline-rate and --mde")
            try:
                n = sample_size(baseline_rate, mde)
            except ValueError as exc:
                raise CampaignError(str(exc)) from None
            plan = {
                "baseline_rate": baseline_rate,
                "mde": mde,
                "alpha": ALPHA,
                "power": POWER,
                "customers_per_arm": n,
            }
            typer.echo(
                json.dumps(plan)
                if as_json
                else (
                    f"{n:,} customers per arm to detect {baseline_rate:.2%} -> "
                    f"{baseline_rate + mde:.2%} (two-sided alpha {ALPHA}, power {POWER:.0%})"
                )
            )
            return
        if not campaign_id:
            raise CampaignError("campaign readout needs a CAMPAIGN_ID")
        result = campaign_readout(
            workspace,
            campaign_id,
            control=control,
            window_days=window_days,
            intended_split=parse_split(intended_split),
            log=not no_log,
        )
    if as_json:
        typer.echo(json.dumps(jsonable(result.as_dict())))
    else:
        for line in result.summary_lines():
            typer.echo(line)
