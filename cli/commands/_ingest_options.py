"""The file and reading options `ingest` and `refresh` share, declared once as annotated aliases,
and `refuse_half_committed`, which every reader of ingested tables starts with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

CustomersFile = Annotated[Path | None, typer.Option("--customers", help="Customers file.")]
ItemsFile = Annotated[Path | None, typer.Option("--items", help="Items (catalogue) file.")]
EventsFile = Annotated[Path | None, typer.Option("--events", help="Events (clickstream) file.")]
CampaignsFile = Annotated[
    Path | None,
    typer.Option("--campaigns", help="Campaigns file: customer_id, campaign_id, arm, sent_at."),
]
ColumnFlags = Annotated[
    list[str] | None,
    typer.Option(
        "--column", help="NAME=THEIR_NAME: read churnrec column NAME from your column THEIR_NAME."
    ),
]
MappingConfig = Annotated[Path | None, typer.Option("--config", help="YAML mapping per file kind.")]
DateFormat = Annotated[
    str | None,
    typer.Option("--date-format", help="strptime format of all date columns, e.g. %d/%m/%Y."),
]
DecimalMark = Annotated[
    str | None,
    typer.Option("--decimal", help="Decimal mark of number columns: . or , (default: detected)."),
]
ThousandsSeparator = Annotated[
    str | None,
    typer.Option("--thousands", help="Thousands separator: , . ' ' or none (default: detected)."),
]
MinDate = Annotated[
    str | None,
    typer.Option("--min-date", help="Dates before this are implausible (default 1990-01-01)."),
]
NegativeReturns = Annotated[
    bool | None,
    typer.Option(
        "--negative-returns/--no-negative-returns",
        help="A negative quantity/amount is a return (default); --no-...: it is an error.",
    ),
]
MaxInputBytes = Annotated[
    int | None,
    typer.Option("--max-input-bytes", help="Cap on one file's decompressed size (default 4 GiB)."),
]
MaxRows = Annotated[
    int | None, typer.Option("--max-rows", help="Cap on one file's rows (default 100,000,000).")
]
MaxCellChars = Annotated[
    int | None,
    typer.Option("--max-cell-chars", help="Longer cells: row quarantined (default 65,536)."),
]
MaxQuantity = Annotated[
    float | None,
    typer.Option("--max-quantity", help="Larger |quantity|: row quarantined (default 1e6)."),
]
MaxAmount = Annotated[
    float | None,
    typer.Option("--max-amount", help="Larger |amount| or |price|: row quarantined (default 1e9)."),
]
Timezone = Annotated[
    str | None,
    typer.Option(
        "--timezone", help="Zone of dates written without an offset, e.g. Europe/Berlin (UTC)."
    ),
]
WorkspaceDir = Annotated[Path, typer.Option("--workspace", help="Workspace folder.")]


def refuse_half_committed(workspace: Path) -> None:
    """Exit 2 with a clear message when the workspace folder does not exist, or while an
    ingest commit journal exists (recovery.py): readers start from whole data or not at all."""
    from churnrec.ingest.errors import IngestError
    from churnrec.ingest.recovery import refuse_half_committed as check

    if not Path(workspace).is_dir():
        typer.echo(
            f"churnrec: error: workspace folder {Path(workspace).resolve()} does not exist; "
            "pass the folder you ingested into with --workspace",
            err=True,
        )
        raise typer.Exit(2)
    try:
        check(workspace)
    except IngestError as exc:
        typer.echo(f"churnrec: error: {exc}", err=True)
        raise typer.Exit(2) from None
