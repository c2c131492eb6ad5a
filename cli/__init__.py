"""The `churnrec` console command: the top floor of the house.

Each subcommand lives in `cli/commands/<name>.py` (importable as `churnrec.cli.commands.<name>`)
and is registered explicitly below. The command modules import their heavy libraries inside
the command function, so `churnrec --help` stays instant.
"""

from __future__ import annotations

import typer

from churnrec.cli.commands import demo, features, generate, ingest, refresh, score, serve, train

app = typer.Typer(
    help="Churn scores, repurchase timing and recommendations from a shop's order history.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

COMMANDS = {
    "generate": generate,
    "ingest": ingest,
    "features": features,
    "train": train,
    "score": score,
    "serve": serve,
    "demo": demo,
    "refresh": refresh,
}

for _name, _module in COMMANDS.items():
    app.command(_name, help=_module.__doc__)(_module.command)


def main() -> None:
    import warnings

    # MLflow's generic advice on integer columns, printed on every dataset/model log; churnrec
    # already types nullable columns so that serving never trips over it.
    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
    app()
