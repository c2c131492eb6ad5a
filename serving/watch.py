"""What the reload watch looks at: the champions and the *content* of the served inputs.

Each input's `file_stamp` is one cheap `stat`. MLflow holds the GIL for 40-65 ms, so champions
are asked again only when the registry's SQLite file has a new stamp.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from churnrec import columns as C
from churnrec.models.base import ModelKind
from churnrec.workspace import Workspace, WorkspaceError

FileStamp = tuple[str, int, int, int] | None


@dataclass(frozen=True)
class InputFingerprint:
    champions: tuple[str | None, ...]
    snapshot: FileStamp
    customers: FileStamp
    manifest: FileStamp
    drift: FileStamp = None  # data/drift/latest.json, shown by /metadata
    registry: tuple[FileStamp, FileStamp] | None = None  # mlruns/mlflow.db (+ its -wal)


def file_stamp(path: Path | None) -> FileStamp:
    """(path, mtime ns, size, inode), or None: differs after any rewrite or replacement."""
    if path is None:
        return None
    try:
        info = path.stat()
    except OSError:
        return None
    return (str(path), info.st_mtime_ns, info.st_size, info.st_ino)


def input_fingerprint(
    ws: Workspace, as_of: dt.date | None = None, previous: InputFingerprint | None = None
) -> InputFingerprint:
    """What the served state depends on; `previous` lets an unchanged registry skip MLflow."""
    from churnrec.store.registry import CHALLENGER, alias_version, champion_version

    try:
        folder = ws.snapshot_dir(as_of) if as_of else ws.latest_snapshot_dir()
        snapshot: Path | None = folder / "customer_snapshot.parquet"
    except WorkspaceError:
        snapshot = None
    db = ws.mlruns_dir / "mlflow.db"
    registry = (file_stamp(db), file_stamp(db.with_name(db.name + "-wal")))
    if previous is not None and registry[0] is not None and previous.registry == registry:
        champions = previous.champions
    else:
        champions = tuple(champion_version(ws, name) for name in ModelKind)
        # the online A/B serves recommender@challenger: moving it reloads too
        champions += (alias_version(ws, ModelKind.RECOMMENDER, CHALLENGER),)
    return InputFingerprint(
        champions=champions,
        snapshot=file_stamp(snapshot),
        customers=file_stamp(ws.table_path(C.CUSTOMERS)),
        manifest=file_stamp(ws.manifest_path),
        drift=file_stamp(ws.drift_record_path),
        registry=registry,
    )
