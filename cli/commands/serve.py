"""Start the HTTP service (BentoML) on the workspace's champion models and a snapshot.

The flags and the CHURNREC_* variables (all listed in `serving/settings.py`: the API key in
CHURNREC_API_KEY or CHURNREC_API_KEY_FILE, workers, limits) are checked before anything starts.
OpenAPI docs are served at http://HOST:PORT/. Readiness is per model: without a churn model or
a snapshot the other endpoints still answer. Says loudly when the snapshot is older than the
newest ingested order or than the models' data.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from churnrec.cli.commands._ingest_options import refuse_half_committed
from churnrec.cli.commands.score import parse_as_of


def command(
    workspace: Path = typer.Option(Path("."), "--workspace", help="Workspace folder."),
    port: int = typer.Option(3000, "--port", help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (0.0.0.0 for all)."),
    reload_seconds: float = typer.Option(
        10.0,
        "--reload-seconds",
        help="How often to look for a new champion or changed data (0 = only /reload).",
    ),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Snapshot date YYYY-MM-DD to serve (default: the newest)."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="Serving config YAML (consent_default, tiers)."
    ),
) -> None:
    refuse_half_committed(workspace)  # no reading of a half-finished ingest commit
    from churnrec.scores.config import ServingConfigError, load_serving_config
    from churnrec.scores.snapshots import (
        freshness_warnings,
        newest_order_date,
        snapshot_date,
        snapshot_dir_for,
    )
    from churnrec.serving.settings import ServiceSettings, SettingsError
    from churnrec.workspace import Workspace, WorkspaceError

    cutoff = parse_as_of(as_of)
    ws = Workspace.at(workspace)
    given = {"serving_config": config.resolve()} if config is not None else {}
    try:
        settings = ServiceSettings.load(
            workspace=ws.root, reload_seconds=reload_seconds, as_of=cutoff, **given
        )
        key_lines = settings.warnings()  # also refuses a missing or too short key
        serving_config = load_serving_config(settings.serving_config, settings.consent_default)
    except (SettingsError, ServingConfigError) as exc:
        typer.echo(f"churnrec: error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    for line in key_lines:
        typer.echo(f"churnrec: WARNING: {line}", err=True)
    try:
        snapshot = snapshot_dir_for(ws, cutoff)
        typer.echo(f"churnrec: serving snapshot {snapshot.name}")
        # the models' own training dates are checked by the service (log and /metadata)
        for line in freshness_warnings(snapshot_date(snapshot), newest_order_date(ws), {}):
            typer.echo(f"churnrec: WARNING: {line}", err=True)
    except WorkspaceError as exc:
        if cutoff is not None:
            typer.echo(f"churnrec: error: {exc}", err=True)
            raise typer.Exit(code=2) from None
        typer.echo(
            f"churnrec: WARNING: {exc}; /churn_scores and /next_purchase answer 503 until "
            "then (recommendations are served if a recommender exists)",
            err=True,
        )
    for line in serving_config.warnings():
        typer.echo(f"churnrec: WARNING: {line}", err=True)
    env = {**os.environ, **settings.as_env()}  # each worker reads the same settings
    cmd = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        "churnrec.serving.service:ChurnRec",
        "--host",
        host,
        "--port",
        str(port),
    ]
    typer.echo(f"churnrec: serving {ws.root} on http://{host}:{port} (docs at /)")
    sys.stdout.flush()
    # exec, not a child process: signals (Ctrl-C, a supervisor's SIGTERM) reach BentoML itself
    os.execve(sys.executable, cmd, env)
