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

from churnrec.cli.commands import _ingest_options as opt


def command(
    orders_file: Path | None = typer.Argument(None, help="Orders CSV / CSV.gz / Parquet file."),
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
    max_input_bytes: opt.MaxInputBytes = None,
    max_rows: opt.MaxRows = None,
    max_cell_chars: opt.MaxCellChars = None,
    max_quantity: opt.MaxQuantity = None,
    max_amount: opt.MaxAmount = None,
    timezone: opt.Timezone = None,
    workspace: opt.WorkspaceDir = Path("."),
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
                column_map=parse_column_flags(column or []),
                config=config,
                date_format=date_format,
                decimal=decimal,
                thousands=thousands,
                min_date=min_date,
                negative_returns=negative_returns,
                max_input_bytes=max_input_bytes,
                max_rows=max_rows,
                max_cell_chars=max_cell_chars,
                max_quantity=max_quantity,
                max_amount=max_amount,
                timezone=timezone,
            )
    except IngestError as exc:
        typer.echo(f"churnrec: error: {exc}", err=True)
        raise typer.Exit(2) from None
    if json_out:
        typer.echo(json.dumps(summary.to_dict()))
    else:
        typer.echo("\n".join(summary.lines()))
