"""Build the point-in-time customer snapshot for a cut-off (RFM, segments, lifecycle, ...).

With --horizon-days, also write the churn / next-order labels of that horizon.
With --engine spark, the same SQL definitions run on PySpark (--master local[N] or a cluster URL).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from churnrec.cli.commands._ingest_options import refuse_half_committed
from churnrec.cli.commands.score import parse_as_of


def command(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Cut-off date YYYY-MM-DD (default: date of the last order)."),
    ] = None,
    horizon_days: Annotated[
        int | None,
        typer.Option(
            "--horizon-days", min=1, help="Also write labels for this horizon (days after T)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Also write the snapshot to this .csv or .parquet file."),
    ] = None,
    workspace: Annotated[
        Path, typer.Option("--workspace", help="Workspace folder (default: current folder).")
    ] = Path("."),
    engine: Annotated[
        str,
        typer.Option("--engine", help="duckdb (default) or spark: same definitions, other engine."),
    ] = "duckdb",
    master: Annotated[
        str | None,
        typer.Option("--master", help="Spark master URL with --engine spark (default local[2])."),
    ] = None,
) -> None:
    refuse_half_committed(workspace)  # no reading of a half-finished ingest commit
    from churnrec.features.pipeline import run_features
    from churnrec.workspace import WorkspaceError

    cutoff = parse_as_of(as_of)
    if engine not in ("duckdb", "spark"):
        raise typer.BadParameter(f"{engine!r}: use duckdb or spark", param_hint="--engine")
    if master is not None and engine != "spark":
        raise typer.BadParameter("--master needs --engine spark", param_hint="--master")
    try:
        result = run_features(
            workspace,
            as_of=cutoff,
            horizon_days=horizon_days,
            out=out,
            engine=engine,
            master=master,
        )
    except (WorkspaceError, ValueError, RuntimeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2)
    for line in result.summary_lines():
        typer.echo(line)
