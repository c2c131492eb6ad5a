"""Crash safety: one ingest at a time, and commits that journal their moves of temp files, so the
next ingest after a kill rolls a journalled commit forward (or deletes unjournalled temp files)
and rebuilds manifest entries that disagree with their tables."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.parquet as pq

from churnrec import columns as C
from churnrec.files import FILE_MODE, owner_only, private_dir, write_text
from churnrec.ingest.errors import IngestError
from churnrec.ingest.manifest import manifest_entry, manifest_text, read_manifest, table_run_id
from churnrec.ingest.validate import TABLE_COLUMNS
from churnrec.workspace import Workspace

JOURNAL = ".commit-journal.json"
LOCK = ".ingest.lock"
TEMP_PATTERN = ".*.tmp"  # temp files are `.<target name>.<random>.tmp` beside their target


def journal_path(workspace: Workspace) -> Path:
    return workspace.data_dir / JOURNAL


@contextmanager
def exclusive(workspace: Workspace) -> Iterator[None]:
    """Hold the workspace's ingest lock; a second concurrent ingest fails with a clear error."""
    private_dir(workspace.data_dir)
    lock = workspace.data_dir / LOCK
    with os.fdopen(os.open(lock, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE), "a") as fh:
        owner_only(lock)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IngestError(
                f"another `churnrec ingest` is writing to {workspace.data_dir}; wait for it"
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def refuse_half_committed(workspace: Workspace | str | Path) -> None:
    """Raise if an ingest commit is half done, so no reader mixes new and old tables (new
    orders with old customers: a pending opt-out not applied)."""
    ws = Workspace.at(workspace)
    journal = journal_path(ws)
    if journal.exists():
        raise IngestError(
            f"an ingest commit is unfinished ({journal} exists): the tables may be half old, "
            "half new. Wait for the running `churnrec ingest` to finish, or, if it was killed, "
            f"re-run `churnrec ingest --workspace {ws.root}` with your files (it finishes the "
            "commit first), then run this command again"
        )


def move_into_place(workspace: Workspace, moves: list[tuple[Path, Path]]) -> None:
    """Journal the moves, do them, drop the journal (see module docstring)."""
    journal = journal_path(workspace)
    write_text(journal, json.dumps({"moves": [[str(a), str(b)] for a, b in moves]}))
    for source, target in moves:
        os.replace(source, target)
    journal.unlink()


def recover(workspace: Workspace) -> list[str]:
    """Finish or undo an interrupted commit and repair the manifest; returns what was done."""
    done: list[str] = []
    journal = journal_path(workspace)
    if journal.exists():
        moves = json.loads(journal.read_text())["moves"]
        moved = 0
        for source, target in moves:
            if Path(source).exists():
                os.replace(source, target)
                moved += 1
        journal.unlink()
        done.append(
            f"an earlier ingest was interrupted while moving files into place: finished it "
            f"({moved} of {len(moves)} files moved now)"
        )
    folders = [workspace.data_dir, workspace.quarantine_dir]
    leftovers = [p for d in folders if d.exists() for p in d.glob(TEMP_PATTERN) if p.is_file()]
    for path in leftovers:
        path.unlink()
    if leftovers:
        done.append(
            f"removed {len(leftovers)} temporary file(s) left by an interrupted ingest: "
            + ", ".join(p.name for p in leftovers)
        )
    done += repair_manifest(workspace)
    return done


def repair_manifest(workspace: Workspace) -> list[str]:
    """Rebuild manifest entries that disagree with their tables; returns what changed."""
    if not workspace.data_dir.exists():
        return []
    manifest = read_manifest(workspace)
    tables = manifest.setdefault("tables", {})
    fixed: list[str] = []
    for kind in (*C.INGEST_KINDS, C.GUEST_ORDERS):
        path = workspace.table_path(kind)
        entry = tables.get(kind)
        if not path.exists():
            if entry is not None:
                del tables[kind]
                fixed.append(f"manifest listed {kind} but {path.name} is missing: entry removed")
            continue
        rows = pq.read_metadata(path).num_rows
        run_id = table_run_id(path)
        if entry is not None and entry.get("rows") == rows and entry.get("ingest_id") == run_id:
            continue
        frame = pq.read_table(path).to_pandas()
        extras = [c for c in frame.columns if c not in TABLE_COLUMNS[kind]]
        sources = entry.get("sources", []) if entry else []
        tables[kind] = manifest_entry(kind, frame, sources, run_id, extras)
        if kind == C.ORDERS and (run_id is None or not entry or "line_key" not in entry):
            del tables[kind]["line_key"]  # ids of unknown make: the next ingest re-keys them
        fixed.append(f"manifest entry of {kind} disagreed with {path.name}: rebuilt from the table")
    if fixed:
        write_text(workspace.manifest_path, manifest_text(manifest))
    return fixed
