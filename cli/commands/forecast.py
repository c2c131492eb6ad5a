"""Write the demand forecast (weekly units with 80%/95% intervals) per item or category.

From the demand champion (`churnrec train demand`): `item_id, week_start, units, units_lo80,
units_hi80, units_lo95, units_hi95, revenue, method`; `--level category` writes `category`
instead of `item_id`. Cold items (first sold under 8 weeks ago) get their category's profile scaled
and unknown ones the typical item's; the `method` column says so.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer


class Level(StrEnum):
    item = "item"
    category = "category"


def command(
    out: Path = typer.Option(..., "--out", help="CSV or Parquet file to write (owner-only)."),
    items: Path | None = typer.Option(
        None,
        "--items",
        help="Only these items: CSV/Parquet with an item_id column, or one id per line.",
    ),
    weeks: int = typer.Option(8, "--weeks", min=1, max=52, help="Weeks ahead (up to the model's)."),
    level: Level = typer.Option(Level.item, "--level", help="item or category."),
    workspace: Path = typer.Option(Path("."), "--workspace", help="Workspace folder."),
) -> None:
    from churnrec.cli.commands._errors import exit_on_user_error, register_user_error
    from churnrec.serving.demand_export import export_forecast
    from churnrec.store.registry import ModelNotFoundError
    from churnrec.workspace import Workspace

    register_user_error(ModelNotFoundError, ValueError)
    with exit_on_user_error():
        result = export_forecast(
            Workspace.at(workspace), out=out, weeks=weeks, level=level.value, items_file=items
        )
    for line in result.summary_lines():
        typer.echo(line)
