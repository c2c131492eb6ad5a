"""Writing files that hold shop customers' personal data: owner-only, and CSV that is safe to open.

Two rules for every file churnrec writes for people:

- owner-only permissions (files 0600, folders 0700): quarantine rows, scores and tables carry
  customer ids, e-mails and spend; other users of a shared machine must not read them.
- CSV cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a tab
  or a carriage return) get a leading `'`, so opening a quarantine file in Excel cannot run a
  shop's hostile cell (CSV injection). Plain numbers such as `-5` or `+3.5` are left as they are.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pandas as pd

FILE_MODE = 0o600
DIR_MODE = 0o700
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)*(?:[eE][+-]?\d+)?$")


def owner_only(path: str | Path) -> Path:
    """Restrict `path` to its owner (0600 for a file, 0700 for a folder); returns the path."""
    path = Path(path)
    os.chmod(path, DIR_MODE if path.is_dir() else FILE_MODE)
    return path


def private_dir(path: str | Path) -> Path:
    """Create `path` (and missing parents) if needed and make it owner-only."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    return owner_only(path)


def escape_cell(value: object) -> object:
    """`'=cmd()` for a formula-like text cell; anything else unchanged."""
    risky = isinstance(value, str) and value.startswith(_FORMULA_START)
    return "'" + value if risky and not _PLAIN_NUMBER.match(value) else value


def escape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells cannot be run as spreadsheet formulas."""
    out = frame.copy()
    for name in out.columns:
        col = out[name]
        if col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
            text = col.astype("object")
            risky = text.map(lambda v: isinstance(v, str) and v.startswith(_FORMULA_START))
            if risky.any():
                out[name] = text.where(~risky, text[risky].map(escape_cell))
    out.columns = [escape_cell(str(c)) for c in out.columns]
    return out


def write_csv_safely(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write `frame` as CSV atomically (temp file + rename), owner-only, formulas escaped."""
    path = Path(path)
    private_dir(path.parent)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        escape_formulas(frame).to_csv(tmp, index=False)
        owner_only(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
