"""Daily refresh: ingest new files, rebuild the snapshot, check drift, retrain when due, re-score.

Takes the same file and mapping options as `ingest`. Safe to run from cron: running it twice
on the same files changes nothing, and a crashed run is finished by the next one. Exit code 3
(and "drift_warning": true with --json) when drift crosses a threshold. See docs/RUNNING_DAILY.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

DRIFT_EXIT_CODE = 3


def command(
    orders_file: Path | None = typer.Argument(None, help="New orders CSV / CSV.gz / Parquet."),
    customers: Path | None = typer.Option(None, "--customers", help="Customers file."),
    items: Path | None = typer.Option(None, "--items", help="Items (catalogue) file."),
    events: Path | None = typer.Option(None, "--events", help="Events (clickstream) file."),
    campaigns: Path | None = typer.Option(
        None, "--campaigns", help="Campaigns file: customer_id, campaign_id, arm, sent_at."
    ),
    column: list[str] = typer.Option(
        [],
        "--column",
        help="NAME=THEIR_NAME: read churnrec column NAME from your column THEIR_NAME.",
    ),
    config: Path | None = typer.Option(None, "--config", help="YAML mapping per file kind."),
    date_format: str | None = typer.Option(
        None, "--date-format", help="strptime format of all date columns, e.g. %d/%m/%Y."
    ),
    decimal: str | None = typer.Option(
        None, "--decimal", help="Decimal mark of number columns: . or , (default: detected)."
    ),
    thousands: str | None = typer.Option(
        None, "--thousands", help="Thousands separator: , . ' ' or none (default: detected)."
    ),
    min_date: str | None = typer.Option(
        None, "--min-date", help="Dates before this are implausible (default 1990-01-01)."
    ),
    negative_returns: bool | None = typer.Option(
        None,
        "--negative-returns/--no-negative-returns",
        help="A negative quantity/amount is a return (default); --no-...: it is an error.",
    ),
    workspace: Path = typer.Option(Path("."), "--workspace", help="Workspace folder."),
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
    from churnrec.serving.batch import score_customers
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
            column_map=parse_column_flags(column),
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
            score_step=lambda w: score_customers(w).out,
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
