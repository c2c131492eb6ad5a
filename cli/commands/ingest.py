"""Validate a shop's orders (and customers/items/events/campaigns) into the workspace.

Files: CSV, gzipped CSV or Parquet.
Map your column names with --column NAME=THEIR_NAME or a --config YAML file.
Unusable rows go to data/quarantine/<kind>.csv with a reason (appended per run).
Re-ingesting a file updates what changed and adds nothing twice. See docs/INPUT_RULES.md.
Try it: churnrec ingest --sample cdnow
"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def command(
    orders_file: Path | None = typer.Argument(None, help="Orders CSV / CSV.gz / Parquet file."),
    customers: Path | None = typer.Option(None, "--customers", help="Customers file."),
    items: Path | None = typer.Option(None, "--items", help="Items (catalogue) file."),
    events: Path | None = typer.Option(None, "--events", help="Events (clickstream) file."),
    column: list[str] = typer.Option(
        [],
        "--column",
        help="NAME=THEIR_NAME: read churnrec column NAME from your column THEIR_NAME.",
    ),
    config: Path | None = typer.Option(None, "--config", help="YAML mapping per file kind."),
    campaigns: Path | None = typer.Option(
        None, "--campaigns", help="Campaigns file: customer_id, campaign_id, arm, sent_at."
    ),
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
    json_out: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    sample: str | None = typer.Option(
        None,
        "--sample",
        help="Ingest a sample instead: cdnow, cdnow-master or hillstrom (e-mail experiment).",
    ),
) -> None:
    from churnrec.ingest import IngestError, ingest, ingest_sample
    from churnrec.ingest.mapping import parse_column_flags
    from churnrec.workspace import Workspace

    ws = Workspace.at(workspace)
    try:
        if sample is not None:
            if orders_file is not None:
                raise IngestError("give either ORDERS_FILE or --sample, not both")
            summary = ingest_sample(ws, sample)
        else:
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
    except IngestError as exc:
        typer.echo(f"churnrec: error: {exc}", err=True)
        raise typer.Exit(2) from None
    if json_out:
        typer.echo(json.dumps(summary.to_dict()))
    else:
        typer.echo("\n".join(summary.lines()))
