"""Keep a workspace's MLflow store working after the folder was moved: MLflow records absolute
`file://` locations, rewritten in place or, for a read-only store, mapped at load time."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

# (table, column) pairs of MLflow 3's SQL schema that hold artifact locations.
_LOCATION_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
    ("logged_models", "artifact_location"),
)
MLRUNS = "mlruns"


def _path_of(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and uri.startswith("/"):
        return Path(uri)
    return None


def recorded_mlruns_prefix(db_path: Path) -> str | None:
    """The mlruns prefix the store's experiments were created under, or None (empty store)."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as con:
        try:
            rows = con.execute("SELECT artifact_location FROM experiments").fetchall()
        except sqlite3.OperationalError:  # not yet an MLflow database
            return None
    marker = f"/{MLRUNS}/"
    for (location,) in rows:  # `file:///old/ws/mlruns/churn` -> `file:///old/ws/mlruns`
        if location and (index := location.rfind(marker)) >= 0:
            return location[: index + len(marker) - 1]
    return None


def relocate_if_moved(mlruns_dir: Path) -> bool:
    """Rewrite stale absolute locations to `mlruns_dir` (not in a read-only store); True if done."""
    db_path = mlruns_dir / "mlflow.db"
    if not db_path.exists():
        return False
    old = recorded_mlruns_prefix(db_path)
    new = mlruns_dir.resolve().as_uri()
    if old is None or old == new:
        return False
    old_plain = str(_path_of(old))
    new_plain = str(mlruns_dir.resolve())
    try:
        with sqlite3.connect(db_path, timeout=30) as con:
            for table, column in _LOCATION_COLUMNS:
                for before, after in ((old, new), (old_plain, new_plain)):
                    try:
                        con.execute(
                            f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                            f"WHERE substr({column}, 1, ?) = ?",
                            (after, len(before) + 1, len(before), before),
                        )
                    except sqlite3.OperationalError as exc:
                        if "no such" in str(exc):  # table/column absent in this MLflow version
                            continue
                        raise
    except sqlite3.OperationalError as exc:
        if "readonly" in str(exc) or "read-only" in str(exc):
            return False
        raise
    return True


def resolve_artifact_path(location: str, mlruns_dir: Path) -> Path:
    """The local folder of an artifact location, re-rooted under `mlruns_dir` when it moved."""
    path = _path_of(location)
    if path is None:
        raise ValueError(f"not a local artifact location: {location!r}")
    if path.exists():
        return path
    parts = path.parts
    if MLRUNS in parts:
        index = len(parts) - 1 - parts[::-1].index(MLRUNS)
        moved = mlruns_dir.joinpath(*parts[index + 1 :])
        if moved.exists():
            return moved
    return path
