"""The quarantine files: every rejected row (and replaced cell) of every ingest run, kept.

`data/quarantine/<kind>.csv` grows by one block per run: each row carries the run's
`ingest_id` and `ingested_at`, so a person can find what any run rejected, and per run the
rows with action `rejected_row` add up to that run's `rows_quarantined`. Runs read different
files, so the columns are the union of all runs' columns (blank where a run had none). Written
through `churnrec.files`: owner-only, formula-like cells escaped.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from churnrec import columns as C
from churnrec.files import escape_formulas, owner_only

RUN_META = (C.INGEST_ID, C.INGESTED_AT)


def read_quarantine(path: Path) -> pd.DataFrame:
    """A quarantine file as text (blank cells as ""); empty frame when there is none."""
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame()
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def with_run(rows: pd.DataFrame, ingest_id: str, ingested_at: datetime) -> pd.DataFrame:
    """This run's quarantine rows, stamped with the run."""
    out = rows.copy()
    out.insert(0, C.INGESTED_AT, ingested_at.isoformat(timespec="seconds"))
    out.insert(0, C.INGEST_ID, ingest_id)
    return out


def appended(path: Path, rows: pd.DataFrame) -> pd.DataFrame:
    """The stored quarantine rows followed by `rows` (already escaped rows stay as they are)."""
    new = escape_formulas(rows.astype("str").where(rows.notna(), ""))
    previous = read_quarantine(path)
    if previous.empty:
        return new
    for name in reversed(RUN_META):  # a file from before runs were stamped
        if name not in previous.columns:
            previous.insert(0, name, "")
    return pd.concat([previous, new], ignore_index=True).fillna("")


def write_quarantine(frame: pd.DataFrame, path: Path) -> None:
    """Write an already escaped quarantine frame (see `appended`) owner-only."""
    frame.to_csv(path, index=False)
    owner_only(path)
