"""The `churnrec` console command. Each subcommand is `cli/commands/<name>.py` and imports heavy
libraries inside its function, so `churnrec --help` stays instant.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    help="Churn scores, repurchase timing and recommendations from a shop's order history.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# in the order `churnrec --help` lists them
COMMANDS = {
    name: importlib.import_module(f"churnrec.cli.commands.{name}")
    for name in (
        "generate",
        "ingest",
        "features",
        "train",
        "score",
        "recommend",
        "forecast",
        "serve",
        "demo",
        "report",
        "campaign",
        "target",
        "models",
        "recs",
        "refresh",
        "forget",
        "items",
    )
}

for _name, _module in COMMANDS.items():
    app.command(_name, help=_module.__doc__)(_module.command)


def _print_version(value: bool) -> None:
    if value:
        import churnrec

        typer.echo(f"churnrec {churnrec.__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print churnrec's version and exit.",
    ),
) -> None:
    """Churn scores, repurchase timing and recommendations from a shop's order history."""


def main() -> None:
    import warnings

    # MLflow's generic advice on integer columns, printed on every dataset/model log; churnrec
    # already types nullable columns so that serving never trips over it.
    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
    app()
