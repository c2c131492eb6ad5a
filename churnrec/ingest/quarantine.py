"""The quarantine files `data/quarantine/<kind>.csv`: one block per run, stamped with the run,
so a person can find what any run rejected; columns are the union of all runs' columns."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from churnrec import columns as C
from churnrec.files import escape_formulas, owner_only

RUN_META = (C.INGEST_ID, C.INGESTED_AT)


def write_quarantine(
    target: Path, tmp: Path, rows: pd.DataFrame, ingest_id: str, ingested_at: datetime
) -> None:
    """Write `target`'s stored rows, then this run's `rows` stamped with the run, to `tmp`
    (owner-only; new cells escaped, stored ones already are)."""
    new = rows.copy()
    new.insert(0, C.INGESTED_AT, ingested_at.isoformat(timespec="seconds"))
    new.insert(0, C.INGEST_ID, ingest_id)
    new = escape_formulas(new.astype("str").where(new.notna(), ""))
    previous = pd.DataFrame()
    if target.exists() and target.stat().st_size > 0:
        previous = pd.read_csv(target, dtype=str, keep_default_na=False)
    if not previous.empty:
        for name in reversed(RUN_META):  # a file from before runs were stamped
            if name not in previous.columns:
                previous.insert(0, name, "")
        new = pd.concat([previous, new], ignore_index=True).fillna("")
    new.to_csv(tmp, index=False)
    owner_only(tmp)
