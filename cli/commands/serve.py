"""Start the HTTP service (BentoML) on the workspace's champion models and latest snapshot.

Clients send `Authorization: Bearer <key>`; the key comes from CHURNREC_API_KEY or the file
named by CHURNREC_API_KEY_FILE (CHURNREC_AUTH_DISABLED=1 turns the check off, for local
development only). OpenAPI docs are served at http://HOST:PORT/.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer


def command(
    workspace: Path = typer.Option(Path("."), "--workspace", help="Workspace folder."),
    port: int = typer.Option(3000, "--port", help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (0.0.0.0 for all)."),
    reload_seconds: float = typer.Option(
        10.0, "--reload-seconds", help="How often to look for a new champion (0 = only /reload)."
    ),
) -> None:
    from churnrec.serving.auth import AuthConfigError, resolve_api_key

    try:
        resolve_api_key()
    except AuthConfigError as exc:
        typer.echo(f"churnrec: error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    env = dict(os.environ)
    env["CHURNREC_WORKSPACE"] = str(workspace.resolve())
    env["CHURNREC_RELOAD_SECONDS"] = str(reload_seconds)
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
    typer.echo(f"churnrec: serving {workspace.resolve()} on http://{host}:{port} (docs at /)")
    sys.stdout.flush()
    # exec, not a child process: signals (Ctrl-C, a supervisor's SIGTERM) reach BentoML itself
    os.execve(sys.executable, cmd, env)
