"""Writing files that hold personal data: owner-only (0600), atomic, spreadsheet-safe CSV.

A CSV cell starting with `=`, `+`, `-`, `@` (or a tab / carriage return) is run as a formula
by Excel and LibreOffice; such text cells get a leading `'` so they show as text. Numbers are
written as numbers (a negative contribution stays -0.31).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

PRIVATE_MODE = 0o600
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells cannot start a formula."""
    out = frame.copy()
    for name in out.columns:
        if out[name].dtype == object or pd.api.types.is_string_dtype(out[name]):
            out[name] = out[name].map(escape_formula)
    return out


def write_private_table(frame: pd.DataFrame, out: Path) -> None:
    """CSV (escaped) or Parquet by extension, created 0600 and moved into place atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.unlink(missing_ok=True)
    # Created owner-only from the first byte: no window in which others could read it.
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE))
    if out.suffix.lower() == ".parquet":
        frame.to_parquet(tmp, index=False)
    else:
        spreadsheet_safe(frame).to_csv(tmp, index=False)
    os.chmod(tmp, PRIVATE_MODE)
    tmp.replace(out)
