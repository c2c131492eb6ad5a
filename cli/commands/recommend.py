"""Write top-k recommendations for every customer (or those listed) to CSV or Parquet.

Served as measured: the champion recommender with the same defaults as /recommendations
(repeat and new items, each flagged). With --for-marketing only customers who gave marketing
consent are written (unknown consent counts as none) and the number left out is printed.
Items the catalogue hides (`available` / `recommendable` false) never appear; `--filters
FILE.yaml` takes the `/recommendations` body's `filters`, `promoted_item_ids`,
`promoted_share` and `max_per_category`.
"""

from __future__ import annotations

from pathlib import Path

import typer


def command(
    out: Path = typer.Option(..., "--out", help="CSV or Parquet file to write (owner-only)."),
    k: int = typer.Option(10, "--k", min=1, max=100, help="Items per customer."),
    customers: Path | None = typer.Option(
        None,
        "--customers",
        help="Only these customers: CSV/Parquet with a customer_id column, or one id per line.",
    ),
    for_marketing: bool = typer.Option(
        False,
        "--for-marketing",
        help="A marketing export: drop customers without marketing consent (unknown = none).",
    ),
    filters: Path | None = typer.Option(
        None,
        "--filters",
        help="YAML with filters / promoted_item_ids / promoted_share / max_per_category "
        "(as in the /recommendations body).",
    ),
    workspace: Path = typer.Option(Path("."), "--workspace", help="Workspace folder."),
    jobs: int | None = typer.Option(
        None, "--jobs", min=1, help="Threads ranking blocks of customers (default: every core)."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="Serving config YAML (consent_default decides unknown consent)."
    ),
) -> None:
    from churnrec.cli.commands._errors import exit_on_user_error, register_user_error
    from churnrec.scores.config import ServingConfigError, load_serving_config
    from churnrec.serving.recommend_export import export_recommendations
    from churnrec.serving.settings import ServiceSettings, SettingsError
    from churnrec.store.registry import ModelNotFoundError
    from churnrec.workspace import Workspace

    register_user_error(ModelNotFoundError, ServingConfigError, SettingsError, ValueError)
    with exit_on_user_error():
        settings = ServiceSettings.load()  # CHURNREC_SERVING_CONFIG, CHURNREC_CONSENT_DEFAULT
        result = export_recommendations(
            Workspace.at(workspace),
            out=out,
            k=k,
            customers_file=customers,
            for_marketing=for_marketing,
            config=load_serving_config(config or settings.serving_config, settings.consent_default),
            jobs=jobs,
            filters_file=filters,
        )
    if result.empty_reason:
        typer.echo(f"churnrec: WARNING: {result.empty_reason}", err=True)
    for line in result.summary_lines():
        typer.echo(line)
