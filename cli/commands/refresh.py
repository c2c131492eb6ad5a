"""Daily refresh: ingest new files, rebuild the snapshot, check drift, retrain when due, re-score.

Takes the same file and mapping options as `ingest`. Safe to run from cron: running it twice
on the same files changes nothing, and a crashed run is finished by the next one. Exit code 3
(and "drift_warning": true with --json) when drift crosses a threshold. See docs/RUNNING_DAILY.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from churnrec.cli.commands import _ingest_options as opt

DRIFT_EXIT_CODE = 3


def command(
    orders_file: Path | None = typer.Argument(None, help="New orders CSV / CSV.gz / Parquet."),
    customers: opt.CustomersFile = None,
    items: opt.ItemsFile = None,
    events: opt.EventsFile = None,
    campaigns: opt.CampaignsFile = None,
    column: opt.ColumnFlags = None,
    config: opt.MappingConfig = None,
    date_format: opt.DateFormat = None,
    decimal: opt.DecimalMark = None,
    thousands: opt.ThousandsSeparator = None,
    min_date: opt.MinDate = None,
    negative_returns: opt.NegativeReturns = None,
    workspace: opt.WorkspaceDir = Path("."),
    retrain: str = typer.Option(
        "auto", "--retrain", help="auto (schedule or drift), always or never."
    ),
    refresh_config: Path | None = typer.Option(
        None,
        "--refresh-config",
        help="YAML with retrain_every_days and drift thresholds (default: WORKSPACE/refresh.yaml).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    from churnrec.ingest import IngestError, ingest
    from churnrec.ingest.mapping import parse_column_flags
    from churnrec.training.refresh import RefreshConfigError, load_refresh_config, run_refresh
    from churnrec.workspace import Workspace, WorkspaceError

    if retrain not in ("auto", "always", "never"):
        raise typer.BadParameter(f"{retrain!r}: use auto, always or never", param_hint="--retrain")
    ws = Workspace.at(workspace)

    def ingest_step():
        if orders_file is None and not any((customers, items, events, campaigns)):
            return None  # nothing new: rebuild from what is already ingested
        summary = ingest(
            ws,
            orders_file,
            customers=customers,
            items=items,
            events=events,
            campaigns=campaigns,
            column_map=parse_column_flags(column or []),
            config=config,
            date_format=date_format,
            decimal=decimal,
            thousands=thousands,
            min_date=min_date,
            negative_returns=negative_returns,
        )
        if not json_out:
            typer.echo("\n".join(summary.lines()))
        return summary

    try:
        settings = load_refresh_config(ws, refresh_config)
        result = run_refresh(
            ws,
            ingest_step=ingest_step,
            retrain=retrain,  # type: ignore[arg-type]
            config=settings,
        )
    except (IngestError, RefreshConfigError, WorkspaceError, ValueError, RuntimeError) as exc:
        typer.echo(f"churnrec: error: {exc}", err=True)
        raise typer.Exit(2) from None
    if json_out:
        typer.echo(json.dumps(result.to_dict(), default=str))
    else:
        typer.echo("\n".join(result.lines()))
    if result.drift_warning:
        raise typer.Exit(DRIFT_EXIT_CODE)
