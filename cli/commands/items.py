"""The catalogue's items: `suspects` lists likely non-products in the orders (postage, fees,
vouchers, adjustments) with the evidence per item, and writes a CSV (`recommendable` false)
that the shop edits and feeds back with `churnrec ingest --items FILE`.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer


class Action(StrEnum):
    suspects = "suspects"


def command(
    action: Action = typer.Argument(..., help="suspects"),
    out: Path = typer.Option(
        Path("item_suspects.csv"), "--out", help="CSV to write (owner-only), to edit and ingest."
    ),
    workspace: Path = typer.Option(Path("."), "--workspace", help="Workspace folder."),
) -> None:
    from churnrec.cli.commands._errors import exit_on_user_error
    from churnrec.insights.catalogue_suspects import find_suspects
    from churnrec.workspace import Workspace

    with exit_on_user_error():
        found = find_suspects(Workspace.at(workspace), out)
    table = found.table
    typer.echo(f"{len(table):,} of {found.n_items:,} items look like non-products:")
    for row in table.head(30).itertuples(index=False):
        typer.echo(
            f"  {row.item_id}: {row.evidence} ({row.customers:,} customers, "
            f"{row.customer_share:.1%}; median price {row.median_price:g})"
        )
    if len(table) > 30:
        typer.echo(f"  ... and {len(table) - 30:,} more in the file")
    typer.echo(
        f"wrote {out}: delete the rows that are real products, then "
        f"`churnrec ingest --items {out}` keeps the rest out of every recommendation"
    )
