"""Start the real `churnrec serve` on 127.0.0.1 for a test and stop it afterwards."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(
    workspace_root: Path,
    api_key: str,
    *extra_args: str,
    timeout_s: float = 180,
    log_name: str = "server.log",
    ready_path: str = "/readyz",
) -> Iterator[str]:
    """Run `churnrec serve --workspace ROOT` until the block ends; yield its base URL.

    The server gets no CHURNREC_* variable of the test process but its API key: `churnrec
    serve` itself must pass the workspace and reload interval. Its output is appended to
    ROOT/<log_name>, so a restart in one test keeps the first run's log. `ready_path`
    "/healthz" waits only for the server, not for a model (a workspace without any).
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHURNREC_")}
    env["CHURNREC_API_KEY"] = api_key
    log_path = workspace_root / log_name
    with log_path.open("a") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "churnrec.cli", "serve", "--workspace", str(workspace_root)]
            + ["--host", "127.0.0.1", "--port", str(port), *extra_args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + timeout_s
            while True:
                if proc.poll() is not None:
                    raise RuntimeError("server exited:\n" + log_path.read_text()[-3000:])
                try:
                    if httpx.get(f"{base}{ready_path}", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.time() > deadline:
                    raise RuntimeError("server not ready:\n" + log_path.read_text()[-3000:])
                time.sleep(0.5)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
