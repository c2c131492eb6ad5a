"""Readers of a half-finished ingest commit refuse (issue 19, item 6).

A kill after the orders file moved into place left new orders beside the old customers table
(a pending opt-out not applied), and `features` and `score` ran on that mix silently. While
the commit journal exists, `features`, `score`, `serve` and `train` now refuse with a message
naming the journal and what to do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.ingest.recovery import JOURNAL, journal_path
from churnrec.workspace import Workspace
from tests.server_process import free_port

CUSTOMERS = "customer_id,marketing_consent\nc1,yes\nc2,yes\n"
ORDERS = "customer_id,order_id,ordered_at,amount\n" + "".join(
    f"c{1 + i % 2},o{i},2024-0{1 + i % 5}-1{i % 9},{10 + i}\n" for i in range(30)
)


def _ingest(ws: Path, orders: Path, customers: Path) -> None:
    args = ["ingest", str(orders), "--customers", str(customers), "--workspace", str(ws)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output


@pytest.fixture
def half_committed(tmp_path) -> Workspace:
    """A workspace killed mid-commit: orders moved into place, customers (c1 now no) not."""
    ws = Workspace.at(tmp_path / "ws")
    orders, customers = tmp_path / "orders.csv", tmp_path / "customers.csv"
    orders.write_text(ORDERS)
    customers.write_text(CUSTOMERS)
    _ingest(ws.root, orders, customers)
    # the interrupted run: its new customers table written to a temp file, then journaled
    table = pq.read_table(ws.table_path(C.CUSTOMERS))
    frame = table.to_pandas()
    frame[C.MARKETING_CONSENT] = frame[C.CUSTOMER_ID] != "c1"
    staged = ws.data_dir / ".customers.parquet.interrupted.tmp"
    pq.write_table(table.from_pandas(frame, schema=table.schema, preserve_index=False), staged)
    moves = [[str(staged), str(ws.table_path(C.CUSTOMERS))]]
    journal_path(ws).write_text(json.dumps({"moves": moves}))
    return ws


@pytest.mark.parametrize("command", ["features", "score", "train"])
def test_readers_refuse_while_a_commit_journal_exists(half_committed, command):
    result = CliRunner().invoke(app, [command, "--workspace", str(half_committed.root)])
    assert result.exit_code == 2, result.output
    assert JOURNAL in result.output and "churnrec ingest" in result.output
    assert "Traceback" not in result.output
    assert not half_committed.features_dir.exists()


def test_serve_refuses_before_starting_a_server(half_committed):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHURNREC_")}
    args = ["serve", "--workspace", str(half_committed.root), "--port", str(free_port())]
    log = half_committed.root / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "churnrec.cli", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**env, "CHURNREC_API_KEY": "k" * 32},
        )
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # it is serving the half-old, half-new tables
            proc.terminate()  # SIGTERM: the server stops its workers too
            proc.wait(timeout=30)
            pytest.fail("serve started while an ingest commit journal exists")
    assert proc.returncode == 2, log.read_text()
    assert JOURNAL in log.read_text()


def test_after_ingest_finishes_the_commit_readers_run_on_the_new_tables(half_committed, tmp_path):
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id,marketing_consent\nc2,yes\n")
    _ingest(half_committed.root, tmp_path / "orders.csv", customers)
    assert not journal_path(half_committed).exists()
    stored = pd.read_parquet(half_committed.table_path(C.CUSTOMERS)).set_index(C.CUSTOMER_ID)
    assert stored[C.MARKETING_CONSENT].to_dict() == {"c1": False, "c2": True}
    result = CliRunner().invoke(app, ["features", "--workspace", str(half_committed.root)])
    assert result.exit_code == 0, result.output
