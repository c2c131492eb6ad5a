"""Run the whole pipeline on the built-in synthetic shop: generate, ingest, features, train, score, report.

This is what the README's first command runs. Everything lands in the workspace (default: the
current folder): data/, mlruns/, outputs/churn_scores.csv and outputs/report.html.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from churnrec.cli.commands._errors import exit_on_user_error
from churnrec.models.base import ModelKind


def command(
    workspace: Path = typer.Option(Path("."), "--workspace", help="Workspace folder."),
    customers: int = typer.Option(5000, "--customers", min=100, help="Synthetic shop size."),
    seed: int = typer.Option(7, "--seed", help="Seed of the synthetic shop."),
) -> None:
    from churnrec.cli.commands._value_demo import run_value_demo
    from churnrec.features.pipeline import run_features
    from churnrec.files import owner_only_umask, write_csv
    from churnrec.ingest import ingest
    from churnrec.insights.report.build import build_report
    from churnrec.progress import say
    from churnrec.scores.export import score_customers
    from churnrec.synthetic import ShopConfig, generate_shop, write_shop
    from churnrec.training.jobs import train_models
    from churnrec.workspace import Workspace

    started = time.perf_counter()
    ws = Workspace.at(workspace)
    with exit_on_user_error():
        say(f"[churnrec] demo in {ws.root}")
        shop_dir = ws.root / "data" / "sample_shop"
        tables = generate_shop(ShopConfig(n_customers=customers, seed=seed))
        with owner_only_umask():  # the sample shop sits in the workspace: owner-only
            files = write_shop(tables, shop_dir, "csv")
        campaigns_file = None
        if tables.campaigns is not None:  # a past randomised e-mail campaign, as a shop exports it
            campaigns_file = write_csv(tables.campaigns, shop_dir / "campaigns.csv")
        summary = ingest(
            ws,
            files["orders"],
            customers=files.get("customers"),
            items=files.get("items"),
            events=files.get("events"),
            campaigns=campaigns_file,
        )
        features = run_features(ws)
        trained = train_models(ws)
        clv = next(o for o in trained.outcomes if o.kind == ModelKind.CLV)
        value_lines = run_value_demo(ws, tables, clv=clv)  # campaign, uplift, target list
        scored = score_customers(ws)  # after CLV/uplift: the export carries clv and uplift
        report = build_report(ws)
    typer.echo("")
    typer.echo(f"demo finished in {time.perf_counter() - started:.0f}s. What it produced:")
    typer.echo(f"  synthetic shop export      {shop_dir}/")
    tables = summary.to_dict()["tables"]
    for kind, t in tables.items():
        typer.echo(
            f"  ingested {kind:<10} {t['rows_accepted']:>9,} rows accepted, "
            f"{t['rows_quarantined']:,} quarantined -> {ws.table_path(kind)}"
        )
    typer.echo(f"  feature tables             {features.snapshot_dir}/")
    for line in trained.summary_lines():
        typer.echo(f"  {line}")
    for line in value_lines:
        typer.echo(f"  {line}")
    typer.echo(f"  churn scores               {scored.out} ({scored.rows_written:,} customers)")
    if scored.quality_warning:  # as loud as `churnrec score`
        typer.echo(f"!!! {scored.quality_warning} !!!", err=True)
    typer.echo(f"  insight report             {report.out}")
    typer.echo(
        "next: CHURNREC_API_KEY=change-me .venv/bin/churnrec serve"
        + ("" if ws.root == Path.cwd().resolve() else f" --workspace {ws.root}")
        + "   (API docs at http://127.0.0.1:3000/; or `source .venv/bin/activate` first)"
    )
