"""Write churn scores, tiers, reasons in words, actions and next-purchase estimates.

Uses whichever champions exist (churn, repurchase, clv, uplift); exit 2 only when none does.

Sorted by risk; only customers who may be contacted for marketing are in the file (unknown
consent counts as no unless the serving config says `consent_default: allow`); the others
are counted. The file is owner-only (0600). Says loudly when the snapshot is older than the
newest ingested order or than the data the models were trained on. Writes each model's
quality band beside the file (`<out>.quality.json`) and, when a model is below "fair", says so
on stderr between `!!!` marks.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path

import typer

from churnrec.cli.commands._errors import exit_on_user_error
from churnrec.cli.commands._ingest_options import refuse_half_committed


class Tier(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


def parse_as_of(value: str | None, option: str = "--as-of") -> dt.date | None:
    """`--as-of` (or another date `option`) as a date; a clear usage error otherwise."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date YYYY-MM-DD", param_hint=option) from None


def command(
    workspace: Path = typer.Option(Path("."), "--workspace", help="Workspace folder."),
    out: Path | None = typer.Option(
        None, "--out", help="CSV or Parquet file (default: outputs/churn_scores.csv)."
    ),
    min_risk: Tier | None = typer.Option(
        None, "--min-risk", help="Only customers at this risk tier or above."
    ),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Snapshot date YYYY-MM-DD to score (default: the newest)."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="Serving config YAML (consent_default, tiers)."
    ),
) -> None:
    refuse_half_committed(workspace)  # no reading of a half-finished ingest commit
    from churnrec.cli.commands._errors import register_user_error
    from churnrec.scores.config import ServingConfigError, load_serving_config
    from churnrec.scores.export import score_customers
    from churnrec.serving.settings import ServiceSettings, SettingsError
    from churnrec.store.registry import ModelNotFoundError
    from churnrec.workspace import Workspace

    cutoff = parse_as_of(as_of)
    register_user_error(ModelNotFoundError, ServingConfigError, SettingsError, ValueError)
    with exit_on_user_error():
        settings = ServiceSettings.load()  # CHURNREC_SERVING_CONFIG, CHURNREC_CONSENT_DEFAULT
        result = score_customers(
            Workspace.at(workspace),
            out=out,
            min_risk=min_risk.value if min_risk else None,
            as_of=cutoff,
            config=load_serving_config(config or settings.serving_config, settings.consent_default),
        )
    for line in result.warnings:
        typer.echo(f"churnrec: WARNING: {line}", err=True)
    for line in result.summary_lines():
        typer.echo(line)
    if result.quality_warning:  # last, so it is what stays on the screen
        typer.echo(f"!!! {result.quality_warning} !!!", err=True)
