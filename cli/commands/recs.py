"""Read out what the served recommendations did: `churnrec recs readout [--since DATE] [--json]`.

Per model version and source: impressions, click-or-view, add-to-cart and purchase rates and
attributed revenue with 95% intervals (events that carried the answer's `recommendation_id`,
within `--window-days` after it, default 7); with an online A/B running, the challenger arm
against the champion arm (lift with 95% interval, sample-ratio check). Logged to MLflow
(experiment `recommender`, one run per model version, tagged `model_version`).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer

from churnrec.cli.commands._errors import exit_on_user_error, register_user_error


class Action(StrEnum):
    readout = "readout"


def command(
    action: Action = typer.Argument(..., help="readout: what the served answers led to."),
    since: str | None = typer.Option(
        None, "--since", help="Only answers from this date YYYY-MM-DD on (default: all)."
    ),
    window_days: int = typer.Option(
        7, "--window-days", min=1, help="Days after an answer in which its events count."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    no_log: bool = typer.Option(False, "--no-log", help="Do not log to MLflow."),
    workspace: Path = typer.Option(Path("."), "--workspace", help="Workspace folder."),
) -> None:
    from churnrec.cli.commands._ingest_options import refuse_half_committed
    from churnrec.cli.commands.score import parse_as_of
    from churnrec.insights.recommendations_online import ReadoutError, recs_readout

    refuse_half_committed(workspace)
    register_user_error(ReadoutError)
    start = parse_as_of(since, "--since")
    with exit_on_user_error():
        result = recs_readout(workspace, since=start, window_days=window_days, log=not no_log)
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
        return
    for line in result.summary_lines():
        typer.echo(line)
