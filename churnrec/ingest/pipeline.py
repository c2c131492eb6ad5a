"""The ingest job: read every file, check every row, then write everything at once.

File-level problems (IngestError) all surface while reading and mapping, before anything is
written, so a failed run leaves the workspace exactly as it was.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

import pandas as pd

from churnrec import columns as C
from churnrec.ingest.dates import to_naive_utc
from churnrec.ingest.errors import IngestError
from churnrec.ingest.mapping import check_column_map, load_config, resolve_columns
from churnrec.ingest.readers import RawTable, read_table
from churnrec.ingest.store import Pending, commit, merge, read_existing
from churnrec.ingest.summary import IngestSummary, TableSummary
from churnrec.ingest.validate import check_table
from churnrec.progress import stage
from churnrec.workspace import Workspace


def ingest(
    workspace: Workspace,
    orders: Path | None,
    *,
    customers: Path | None = None,
    items: Path | None = None,
    events: Path | None = None,
    column_map: dict[str, str] | None = None,
    config: Path | None = None,
    date_format: str | None = None,
    now: datetime | None = None,
) -> IngestSummary:
    """Validate the given files and merge them into the workspace's canonical tables."""
    files = {
        kind: Path(path)
        for kind, path in (
            (C.ORDERS, orders),
            (C.CUSTOMERS, customers),
            (C.ITEMS, items),
            (C.EVENTS, events),
        )
        if path is not None
    }
    if not files:
        raise IngestError(
            "nothing to ingest: give ORDERS_FILE (or --customers/--items/--events, "
            "or --sample cdnow)"
        )
    settings = load_config(config)
    flags = check_column_map(column_map or {})
    raws: list[tuple[RawTable, dict[str, str]]] = []
    for kind, path in files.items():
        with stage(f"read {kind} {path.name}") as s:
            raw = read_table(path.resolve(), kind)
            found = [str(c) for c in raw.frame.columns]
            raws.append((raw, resolve_columns(kind, raw.source, found, flags, settings)))
            s.note(f"{len(raw.frame):,} rows")
    return ingest_raw(workspace, raws, date_format=date_format or settings.date_format, now=now)


def ingest_raw(
    workspace: Workspace,
    raws: list[tuple[RawTable, dict[str, str]]],
    *,
    date_format: str | None = None,
    now: datetime | None = None,
    allow_duplicate_lines: bool = False,
) -> IngestSummary:
    """Check rows of already-read files and commit them; shared by `ingest` and the samples."""
    moment = to_naive_utc(now if now is not None else datetime.now())
    pending: list[Pending] = []
    summaries: dict[str, TableSummary] = {}
    for raw, cols in raws:
        with stage(f"check {raw.kind}") as s:
            checked = check_table(
                raw,
                cols,
                now=moment,
                date_format=date_format,
                allow_duplicate_lines=allow_duplicate_lines,
            )
            merged = merge(raw.kind, read_existing(workspace, raw.kind), checked.accepted)
            s.note(
                f"{len(checked.accepted):,} accepted ({merged.rows_new:,} new), "
                f"{len(checked.quarantine):,} quarantined"
            )
        pending.append(Pending(raw.kind, merged.frame, checked.quarantine, raw.source))
        by_reason = (
            Counter(checked.quarantine[C.REASON].tolist()) if len(checked.quarantine) else {}
        )
        summaries[raw.kind] = TableSummary(
            file=raw.source,
            rows_read=checked.rows_read,
            rows_accepted=len(checked.accepted),
            rows_new=merged.rows_new,
            rows_already_present=merged.rows_already_present,
            rows_quarantined=len(checked.quarantine),
            quarantined_by_reason=dict(sorted(by_reason.items())),
            quarantine_file=str(workspace.quarantine_path(raw.kind)),
            warnings=checked.warnings,
        )
    with stage("write workspace tables") as s:
        commit(workspace, pending, ingested_at=pd.Timestamp.now().to_pydatetime())
        s.note(", ".join(f"{p.kind}: {len(p.table):,} rows" for p in pending))
    return IngestSummary(str(workspace.root), summaries)
