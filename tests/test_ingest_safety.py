"""Personal data stays private, CSVs are safe to open, and a killed ingest heals on the next run."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime
from pathlib import Path

import pandas as pd

from churnrec import columns as C
from churnrec.files import escape_formulas, owner_only, write_csv
from churnrec.ingest import ingest
from churnrec.ingest.recovery import JOURNAL
from churnrec.workspace import Workspace

NOW = datetime(2024, 6, 1)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _ingest(ws: Workspace, tmp_path: Path, text: str):
    src = tmp_path / "orders.csv"
    src.write_text(text)
    return ingest(ws, src, now=NOW)


def test_everything_ingest_writes_is_owner_only(tmp_path):
    old = os.umask(0o022)
    try:
        ws = Workspace.at(tmp_path / "ws")
        _ingest(ws, tmp_path, "customer_id,ordered_at\na,2024-01-01\nb,bad\n")
    finally:
        os.umask(old)
    assert _mode(ws.data_dir) == 0o700 and _mode(ws.quarantine_dir) == 0o700
    for path in (ws.orders_path, ws.manifest_path, ws.quarantine_path(C.ORDERS)):
        assert _mode(path) == 0o600, path


def test_formula_like_cells_are_escaped_in_quarantine(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    _ingest(
        ws,
        tmp_path,
        "customer_id,ordered_at,channel\n=HYPERLINK(\"x\"),bad,+cmd|' /C calc'!A0\n"
        "@SUM(1),bad,-2+3\nc,bad,-5\nd,2024-01-01,web\n",
    )
    q = pd.read_csv(ws.quarantine_path(C.ORDERS), dtype=str, keep_default_na=False)
    assert q["customer_id"].tolist() == ['\'=HYPERLINK("x")', "'@SUM(1)", "c"]
    assert q["channel"].tolist() == ["'+cmd|' /C calc'!A0", "'-2+3", "-5"]  # -5 is a number


def test_shared_helper_escapes_and_restricts(tmp_path):
    frame = pd.DataFrame({"a": ["=1+1", "ok", None], "b": [1, 2, 3]})
    assert escape_formulas(frame)["a"].tolist()[:2] == ["'=1+1", "ok"]
    path = write_csv(frame, tmp_path / "out" / "x.csv")
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert pd.read_csv(path)["a"].tolist()[0] == "'=1+1"
    assert not list(path.parent.glob(".*.tmp"))
    (tmp_path / "f").write_text("x")
    assert _mode(owner_only(tmp_path / "f")) == 0o600


def test_leftover_temp_files_of_a_killed_run_are_removed(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    _ingest(ws, tmp_path, "customer_id,ordered_at\na,2024-01-01\n")
    # a kill while writing temp files leaves them behind, the real files untouched
    leftovers = [
        ws.data_dir / ".orders.parquet.abc123.tmp",
        ws.quarantine_dir / ".orders.csv.def456.tmp",
    ]
    for path in leftovers:
        path.write_text("half written")
    summary = _ingest(ws, tmp_path, "customer_id,ordered_at\nb,2024-01-02\n")
    assert not any(p.exists() for p in leftovers)
    assert any("removed 2 temporary file" in line for line in summary.repairs)
    assert sorted(pd.read_parquet(ws.orders_path)[C.CUSTOMER_ID]) == ["a", "b"]


def test_a_kill_during_the_moves_is_finished_by_the_next_run(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    _ingest(ws, tmp_path, "customer_id,ordered_at\na,2024-01-01\n")
    # simulate: the table moved into place, then a kill before the manifest moved
    manifest_before = json.loads(ws.manifest_path.read_text())
    pending_manifest = ws.data_dir / ".manifest.json.zz.tmp"
    newer = dict(manifest_before, note="from the killed run")
    pending_manifest.write_text(json.dumps(newer))
    (ws.data_dir / JOURNAL).write_text(
        json.dumps({"moves": [[str(pending_manifest), str(ws.manifest_path)]]})
    )
    summary = _ingest(ws, tmp_path, "customer_id,ordered_at\nb,2024-01-02\n")
    assert any("interrupted while moving" in line for line in summary.repairs)
    assert not (ws.data_dir / JOURNAL).exists() and not pending_manifest.exists()
    assert json.loads(ws.manifest_path.read_text())["note"] == "from the killed run"


def test_a_manifest_that_disagrees_with_its_table_is_rebuilt(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    _ingest(ws, tmp_path, "customer_id,ordered_at\na,2024-01-01\nb,2024-01-02\n")
    manifest = json.loads(ws.manifest_path.read_text())
    manifest["tables"][C.ORDERS]["rows"] = 99  # out of step with orders.parquet
    manifest["tables"][C.ITEMS] = {"rows": 3, "sources": []}  # a table that is not there
    ws.manifest_path.write_text(json.dumps(manifest))
    src = tmp_path / "c.csv"
    src.write_text("customer_id,region\na,north\n")
    summary = ingest(ws, None, customers=src, now=NOW)  # a run that does not touch orders
    assert any("orders disagreed" in line for line in summary.repairs)
    tables = ws.read_manifest()["tables"]
    assert tables[C.ORDERS]["rows"] == 2 and C.ITEMS not in tables
