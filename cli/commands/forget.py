"""Erase customers (the right to erasure): `churnrec forget CUSTOMER_ID... | --file ids.csv`.

Removes them from the tables, quarantine, feature snapshots, the live events log, drift
records and `outputs/`, makes every logged model forget them (artifacts scrubbed in place; a
running server reloads), and records a tombstone (a keyed hash, never the id) so that a later
ingest of an old export skips them unless they come back with a new consent yes. Exports
written outside the workspace are yours to delete. Prints counts and paths, never an id.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from churnrec.cli.commands._errors import exit_on_user_error, register_user_error


def command(
    customer_ids: list[str] | None = typer.Argument(None, help="Customer ids to erase."),
    file: Path | None = typer.Option(
        None, "--file", help="CSV of ids: a customer_id column, or one id per line."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    workspace: Path = typer.Option(Path("."), "--workspace", help="Workspace folder."),
) -> None:
    from churnrec.ingest import IngestError
    from churnrec.store.erasure import ErasureInputError, forget, read_id_file

    register_user_error(ErasureInputError, IngestError)
    with exit_on_user_error():
        ids = list(customer_ids or [])
        if file is not None:
            ids += read_id_file(file)
        if not ids:
            raise ErasureInputError("give CUSTOMER_ID... or --file ids.csv")
        report = forget(workspace, ids)
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
    else:
        for line in report.lines():
            typer.echo(line)
