"""The `churnrec` console command. Each subcommand lives in `churnrec/commands/<name>.py`.

Nothing heavy is imported here so that `churnrec --help` is instant; commands import their
libraries when they run.
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

# name -> module under churnrec.commands exposing `command` (a Typer-annotated function)
COMMANDS = ("generate", "ingest", "features", "train", "score", "serve", "demo")

for _name in COMMANDS:
    try:
        _module = importlib.import_module(f"churnrec.commands.{_name}")
    except ModuleNotFoundError as exc:  # a command not built yet in this checkout
        if exc.name != f"churnrec.commands.{_name}":
            raise
        continue
    app.command(_name, help=_module.__doc__)(_module.command)


def main() -> None:
    import warnings

    # MLflow's generic advice on integer columns, printed on every dataset/model log; churnrec
    # already types nullable columns so that serving never trips over it.
    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
    app()


if __name__ == "__main__":
    main()
