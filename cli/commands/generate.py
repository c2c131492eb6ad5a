"""Write a seeded synthetic shop (orders, customers, items, events) to try churnrec on."""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_END = date(2025, 12, 31)


class FileFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


def command(
    customers: Annotated[
        int, typer.Option("--customers", min=1, help="Customers who sign up.")
    ] = 5_000,
    items: Annotated[int, typer.Option("--items", min=1, help="Items in the catalogue.")] = 500,
    start: Annotated[
        str | None,
        typer.Option("--start", help="First day, YYYY-MM-DD (default: 2 years before --end)."),
    ] = None,
    end: Annotated[
        str, typer.Option("--end", help="Last day, YYYY-MM-DD.")
    ] = DEFAULT_END.isoformat(),
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed.")] = 42,
    out: Annotated[Path, typer.Option("--out", help="Folder to write the files into.")] = Path(
        "shop"
    ),
    fmt: Annotated[FileFormat, typer.Option("--format", help="File format.")] = FileFormat.csv,
    no_events: Annotated[
        bool, typer.Option("--no-events", help="Skip the clickstream events.")
    ] = False,
) -> None:
    from pydantic import ValidationError

    from churnrec.progress import stage
    from churnrec.synthetic import ShopConfig, generate_shop, write_shop

    end_day = _parse_day(end, "--end")
    start_day = _parse_day(start, "--start") if start else _two_years_before(end_day)
    try:
        config = ShopConfig(
            n_customers=customers,
            n_items=items,
            start=start_day,
            end=end_day,
            seed=seed,
            with_events=not no_events,
        )
    except ValidationError as exc:
        messages = "; ".join(err["msg"].removeprefix("Value error, ") for err in exc.errors())
        raise typer.BadParameter(messages) from None

    tables = generate_shop(config)
    with stage("write") as s:
        paths = write_shop(tables, out, fmt.value)
        s.note(f"{len(paths)} files in {out}")
    frames = tables.as_dict()
    typer.echo(
        f"Synthetic shop {config.start} .. {config.end} (seed {config.seed}) written to {out}/:"
    )
    for kind, path in paths.items():
        typer.echo(f"  {path}  {len(frames[kind]):,} rows")
    typer.echo("Next: load it with `churnrec ingest`.")


def _parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date like 2025-12-31", param_hint=option
        ) from None


def _two_years_before(end: date) -> date:
    """The day after the same date two years earlier: 2025-12-31 -> 2024-01-01."""
    try:
        return end.replace(year=end.year - 2) + timedelta(days=1)
    except ValueError:  # 29 February
        return date(end.year - 2, 3, 1)
