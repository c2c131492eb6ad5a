"""What the reload watch looks at: the champions and the *content* of the served inputs.

A consent change rewrites `data/customers.parquet` (and the manifest) under the same name, and
`churnrec features` rewrites a snapshot in the same `as_of=` folder; a watch on folder names
never sees either. So the fingerprint holds, per input file, its modification time (ns) and
size: cheap `stat` calls, different after any rewrite.

Asking the MLflow registry for the five champions costs 40-65 ms of Python, holding the GIL,
which showed up as a request-latency spike at every poll. The registry lives in the workspace's
SQLite file, which any alias change rewrites, so the champions are asked again only when that
file's stamp has changed since the previous look.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from churnrec import columns as C
from churnrec.serving.drift_status import drift_path
from churnrec.workspace import Workspace, WorkspaceError

FileStamp = tuple[str, int, int] | None


@dataclass(frozen=True)
class InputFingerprint:
    champions: tuple[str | None, ...]
    snapshot: FileStamp
    customers: FileStamp
    manifest: FileStamp
    drift: FileStamp = None  # data/drift/latest.json, shown by /metadata
    registry: tuple[FileStamp, FileStamp] | None = None  # mlruns/mlflow.db (+ its -wal)


def _stamp(path: Path | None) -> FileStamp:
    if path is None:
        return None
    try:
        info = path.stat()
    except OSError:
        return None
    return (str(path), info.st_mtime_ns, info.st_size)


def _registry_stamp(ws: Workspace) -> tuple[FileStamp, FileStamp]:
    db = ws.mlruns_dir / "mlflow.db"
    return _stamp(db), _stamp(db.with_name(db.name + "-wal"))


def input_fingerprint(
    ws: Workspace, as_of: dt.date | None = None, previous: InputFingerprint | None = None
) -> InputFingerprint:
    """What the served state depends on; `previous` lets an unchanged registry skip MLflow."""
    from churnrec.store.registry import champion_version

    try:
        folder = ws.snapshot_dir(as_of) if as_of else ws.latest_snapshot_dir()
        snapshot: Path | None = folder / "customer_snapshot.parquet"
    except WorkspaceError:
        snapshot = None
    registry = _registry_stamp(ws)
    if previous is not None and registry[0] is not None and previous.registry == registry:
        champions = previous.champions
    else:
        champions = tuple(
            champion_version(ws, name)
            for name in ("churn", "repurchase", "recommender", "clv", "uplift", "demand")
        )
    return InputFingerprint(
        champions=champions,
        snapshot=_stamp(snapshot),
        customers=_stamp(ws.table_path(C.CUSTOMERS)),
        manifest=_stamp(ws.manifest_path),
        drift=_stamp(drift_path(ws)),
        registry=registry,
    )
