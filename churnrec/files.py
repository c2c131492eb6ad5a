"""The one writer for every file churnrec writes (rules written twice drift): owner-only from the
first byte (0600/0700), atomic (a temporary file renamed over the target), and CSV text cells a
spreadsheet would run as a formula prefixed with `'` (a plain number such as `-5` stays)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

FILE_MODE = 0o600
DIR_MODE = 0o700
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+(?:[.,]\d+)*|\.\d+)(?:[eE][+-]?\d+)?$")


# --- permissions -------------------------------------------------------------------------
def owner_only(path: str | Path) -> Path:
    """Restrict `path` to its owner (0600 for a file, 0700 for a folder); returns the path."""
    path = Path(path)
    os.chmod(path, DIR_MODE if path.is_dir() else FILE_MODE)
    return path


def private_dir(path: str | Path) -> Path:
    """Create `path` (and missing parents) owner-only if needed; make `path` itself 0700."""
    path = Path(path)
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    for created in missing:  # mkdir's mode is masked by the umask; parents get the default
        with contextlib.suppress(OSError):
            os.chmod(created, DIR_MODE)
    return owner_only(path)


def private_tree(root: str | Path) -> int:
    """Make every folder under `root` 0700 and every file 0600 (after a library wrote them,
    e.g. MLflow's artifacts and SQLite store); returns how many entries were changed."""
    root = Path(root)
    if not root.exists():
        return 0
    changed = 0
    for entry in [root, *root.rglob("*")]:
        if entry.is_symlink():
            continue
        want = DIR_MODE if entry.is_dir() else FILE_MODE
        with contextlib.suppress(FileNotFoundError):  # removed meanwhile (a live writer's temp)
            if entry.stat().st_mode & 0o777 != want:
                os.chmod(entry, want)
                changed += 1
    return changed


@contextlib.contextmanager
def owner_only_umask() -> Iterator[None]:
    """Files and folders created inside (by any library) are owner-only from the start."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


# --- spreadsheet safety -------------------------------------------------------------------
def escape_cell(value: object) -> object:
    """`'=cmd()` for a formula-like text cell; a plain number or anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return value if _PLAIN_NUMBER.match(value) else "'" + value
    return value


def escape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells (and column names) cannot run as formulas."""
    out = frame.copy()
    for name in out.columns:
        col = out[name]
        if col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
            text = col.astype("object")
            risky = text.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_START))
            if risky.any():
                out[name] = text.where(~risky, text[risky].map(escape_cell))
    out.columns = [escape_cell(str(c)) for c in out.columns]
    return out


# --- atomic writers -----------------------------------------------------------------------
def write_atomic(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call `write(tmp)` on an owner-only temporary file beside `path`, then rename it into
    place (an owner-only folder is created if missing). The temporary file goes on failure."""
    path = Path(path)
    private_dir(path.parent)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)  # mkstemp creates it 0600
    tmp = Path(name)
    try:
        write(tmp)
        owner_only(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_csv(frame: pd.DataFrame, path: str | Path, **to_csv: Any) -> Path:
    """CSV, formula-safe, atomic, owner-only (`index=False` unless given)."""
    to_csv.setdefault("index", False)
    safe = escape_formulas(frame)
    return write_atomic(path, lambda tmp: safe.to_csv(tmp, **to_csv))


def write_parquet(frame: pd.DataFrame, path: str | Path, **to_parquet: Any) -> Path:
    """Parquet, atomic, owner-only (`index=False` unless given)."""
    to_parquet.setdefault("index", False)
    return write_atomic(path, lambda tmp: frame.to_parquet(tmp, **to_parquet))


def check_table_path(out: Path, error: type[Exception] = ValueError) -> None:
    """Refuse an `--out` that `write_table` would not write as asked, before any work is done."""
    if out.suffix.lower() not in {".csv", ".parquet"}:
        raise error(f"--out must end in .csv or .parquet, got {out.name}")


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Parquet for a `.parquet` path, otherwise formula-safe CSV; atomic and owner-only."""
    if Path(path).suffix.lower() == ".parquet":
        return write_parquet(frame, path)
    return write_csv(frame, path)


def write_text(path: str | Path, text: str) -> Path:
    """A text file, atomic and owner-only."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | Path, data: Any, **dumps: Any) -> Path:
    """JSON, atomic and owner-only."""
    dumps.setdefault("indent", 2)
    return write_text(path, json.dumps(data, **dumps))


def open_private_append(path: str | Path) -> Any:
    """A text file opened for appending, created 0600 (in an owner-only folder) if missing,
    for logs that grow by whole lines (CSV cells escaped with `escape_cell`)."""
    path = Path(path)
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    os.chmod(path, FILE_MODE)
    return os.fdopen(fd, "a", encoding="utf-8")
