"""Write the insight report: one self-contained HTML file (overview, segments, clusters, cohorts, funnel, channels and attribution, churn), optionally every table as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from churnrec.cli.commands._errors import exit_on_user_error, register_user_error
from churnrec.cli.commands.score import parse_as_of


def command(
    workspace: Annotated[
        Path, typer.Option("--workspace", help="Workspace folder (default: current folder).")
    ] = Path("."),
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Cut-off date YYYY-MM-DD (default: date of the last order)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="HTML file to write (default: outputs/report.html)."),
    ] = None,
    json_path: Annotated[
        Path | None,
        typer.Option("--json", help="Also write every table behind the charts to this file."),
    ] = None,
    spend: Annotated[
        Path | None,
        typer.Option(
            "--spend",
            help="Marketing spend (CSV/Parquet: channel, date or month, cost) for CPA and ROI.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="YAML: event names per funnel step, period length."),
    ] = None,
) -> None:
    from churnrec.insights.report.build import build_report
    from churnrec.insights.report.config import ReportConfigError
    from churnrec.insights.report.context import ReportDataError
    from churnrec.insights.report.spend import SpendError

    cutoff = parse_as_of(as_of)
    from churnrec.scores.config import ServingConfigError, load_serving_config
    from churnrec.serving.settings import ServiceSettings, SettingsError

    register_user_error(
        SpendError, ReportConfigError, ReportDataError, ServingConfigError, SettingsError
    )
    with exit_on_user_error():
        settings = ServiceSettings.load()  # the tiers `score` and `serve` use (CHURNREC_*)
        result = build_report(
            workspace,
            as_of=cutoff,
            out=out,
            json_path=json_path,
            spend_path=spend,
            config_path=config,
            serving=load_serving_config(settings.serving_config, settings.consent_default),
        )
    for line in result.summary_lines():
        typer.echo(line)
