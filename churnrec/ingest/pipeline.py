"""The ingest job: read every file, check every row, then write everything at once. File-level
problems (IngestError) surface before anything is written; a file whose rows are *all* rejected
fails the run too, keeping only its quarantine rows (and any withdrawn consent)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

import pandas as pd

from churnrec import columns as C
from churnrec.exports import mark_stale_exports
from churnrec.ingest.consent import apply_no
from churnrec.ingest.dates import to_naive_utc
from churnrec.ingest.errors import IngestError
from churnrec.ingest.keys import relabelled_lines
from churnrec.ingest.mapping import load_config, parse_column_flags, resolve_columns
from churnrec.ingest.options import ReadOptions
from churnrec.ingest.readers import RawTable, read_table
from churnrec.ingest.recovery import exclusive, recover
from churnrec.ingest.store import Merged, Pending, commit, merge, new_ingest_id, read_existing
from churnrec.ingest.summary import IngestSummary, TableSummary
from churnrec.ingest.tombstones import lift_tombstones, skip_erased
from churnrec.ingest.validate import REJECTED_ROW, TABLE_COLUMNS, CheckedTable, check_table
from churnrec.progress import stage
from churnrec.workspace import Workspace


def ingest(
    workspace: Workspace,
    orders: Path | None,
    *,
    customers: Path | None = None,
    items: Path | None = None,
    events: Path | None = None,
    campaigns: Path | None = None,
    column_map: dict[str, str] | None = None,
    config: Path | None = None,
    date_format: str | None = None,
    decimal: str | None = None,
    thousands: str | None = None,
    min_date: str | None = None,
    negative_returns: bool | None = None,
    now: datetime | None = None,
    max_input_bytes: int | None = None,
    max_rows: int | None = None,
    max_cell_chars: int | None = None,
    max_quantity: float | None = None,
    max_amount: float | None = None,
    timezone: str | None = None,
) -> IngestSummary:
    """Validate the given files and merge them into the workspace's canonical tables; value-reading
    flags win over the config's keys of the same name (None: the config's, else the default)."""
    given = (orders, customers, items, events, campaigns)
    files = {kind: Path(p) for kind, p in zip(C.INGEST_KINDS, given, strict=True) if p is not None}
    if not files:
        raise IngestError(
            "nothing to ingest: give ORDERS_FILE (or --customers/--items/--events/--campaigns, "
            "or --sample cdnow)"
        )
    settings = load_config(config)
    options = settings.read_options().overridden(
        date_format=date_format,
        decimal=decimal,
        thousands=thousands,
        min_date=min_date,
        negative_returns=negative_returns,
        max_input_bytes=max_input_bytes,
        max_rows=max_rows,
        max_cell_chars=max_cell_chars,
        max_quantity=max_quantity,
        max_amount=max_amount,
        timezone=timezone,
    )
    # the Python API's column_map gets the same check as the CLI flags
    flags = parse_column_flags([f"{k}={v}" for k, v in (column_map or {}).items()])
    raws: list[tuple[RawTable, dict[str, str]]] = []
    for kind, path in files.items():
        with stage(f"read {kind} {path.name}") as s:
            raw = read_table(path.resolve(), kind, options)
            found = [str(c) for c in raw.frame.columns]
            raws.append((raw, resolve_columns(kind, raw.source, found, flags, settings)))
            s.note(f"{len(raw.frame):,} rows")
    return ingest_raw(workspace, raws, options=options, now=now)


def _refuse_relabelled_lines(workspace: Workspace, checked: CheckedTable) -> None:
    """Never store a line twice: stop before writing when the file's lines are stored lines
    under new keys (its column mapping changed what identifies a line)."""
    n = relabelled_lines(read_existing(workspace, C.ORDERS), checked.accepted, checked.provided)
    if n:
        raise IngestError(
            f"{checked.source}: {n:,} order lines are already stored, but would get new keys: "
            "the column mapping of this ingest changed what identifies a line (an order id, "
            "item id or line id column added or dropped), so ingesting would store each of them "
            "twice. Nothing was written. Either ingest with the same --column mapping as before, "
            "or ingest every file with the new mapping into a fresh workspace (--workspace NEW)"
        )


def _guest_lines(workspace: Workspace, checked: CheckedTable) -> Pending:
    """The file's guest lines upserted into `guest_order_lines` (same line keys as orders)."""
    with stage(f"merge {C.GUEST_ORDERS}") as s:
        existing = read_existing(workspace, C.GUEST_ORDERS)
        merged = merge(C.GUEST_ORDERS, existing, checked.guest, checked.provided)
        s.note(f"{merged.rows_new:,} new guest lines")
    return Pending(C.GUEST_ORDERS, merged.frame, checked.quarantine.iloc[0:0], checked.source)


def _summary(workspace: Workspace, checked: CheckedTable, merged: Merged | None) -> TableSummary:
    q = checked.quarantine
    rejected = q[C.QUARANTINE_ACTION] == REJECTED_ROW
    by_reason = Counter(q.loc[rejected, C.REASON].tolist())
    by_cell = Counter(q.loc[~rejected, C.REASON].tolist())
    merged = merged or Merged(checked.accepted, 0, 0, 0)
    return TableSummary(
        file=checked.source,
        rows_read=checked.rows_read,
        rows_accepted=len(checked.accepted),
        rows_new=merged.rows_new,
        rows_already_present=merged.rows_updated + merged.rows_unchanged,
        rows_quarantined=checked.rows_quarantined,
        quarantined_by_reason=dict(sorted(by_reason.items())),
        quarantine_file=str(workspace.quarantine_path(checked.kind)),
        warnings=checked.warnings,
        rows_updated=merged.rows_updated,
        rows_unchanged=merged.rows_unchanged,
        cells_quarantined=checked.cells_quarantined,
        cells_by_reason=dict(sorted(by_cell.items())),
        consent_conflicts=checked.consent_conflicts,
        consent_no_from_quarantine=len(checked.consent_no),
        rows_guest=checked.rows_guest,
    )


def _consent_no_only(workspace: Workspace, checked: CheckedTable) -> pd.DataFrame | None:
    """The stored customers with the no of a file whose rows were all rejected, else None."""
    if checked.kind != C.CUSTOMERS or checked.consent_no.empty:
        return None
    existing = read_existing(workspace, C.CUSTOMERS)
    if existing is None:
        existing = pd.DataFrame({name: [] for name in TABLE_COLUMNS[C.CUSTOMERS]}).astype("object")
    return apply_no(existing, checked.consent_no)


def _all_rejected_error(failed: list[TableSummary]) -> IngestError:
    parts = []
    for t in failed:
        reasons = ", ".join(
            f"{r}: {n:,}" for r, n in sorted(t.quarantined_by_reason.items(), key=lambda kv: -kv[1])
        )
        parts.append(
            f"{t.file}: all {t.rows_read:,} rows were rejected ({reasons}); see {t.quarantine_file}"
        )
    said_no = sum(t.consent_no_from_quarantine for t in failed)
    stored = (
        f"nothing was accepted, so nothing was stored but the no of {said_no:,} customer(s) "
        "(a withdrawn consent is never dropped). "
        if said_no
        else "nothing was accepted, so nothing was stored. "
    )
    return IngestError(
        stored
        + " ".join(parts)
        + ". Check the column mapping (--column), --date-format, --decimal/--thousands and "
        "--min-date."
    )


def ingest_raw(
    workspace: Workspace,
    raws: list[tuple[RawTable, dict[str, str]]],
    *,
    options: ReadOptions,
    now: datetime | None = None,
) -> IngestSummary:
    """Check rows of already-read files and commit them; shared by `ingest` and the samples."""
    moment = to_naive_utc(now if now is not None else datetime.now())
    ingest_id = new_ingest_id()
    ingested_at = pd.Timestamp.now().to_pydatetime()
    with exclusive(workspace):
        repairs = recover(workspace)
        checked_all = []
        for raw, cols in raws:
            with stage(f"check {raw.kind}") as s:
                checked = check_table(raw, cols, now=moment, options=options)
                s.note(
                    f"{len(checked.accepted):,} accepted, {checked.rows_quarantined:,} quarantined"
                )
            checked_all.append((raw, checked))
        checked_all, consented_again = skip_erased(workspace, checked_all)  # `churnrec forget`
        failed = [
            _summary(workspace, c, None)
            for _, c in checked_all
            if c.rows_read > 0 and len(c.accepted) == 0 and c.rows_guest == 0
        ]
        if failed:  # nothing stored but a no (a withdrawn consent is never dropped)
            pending = [
                Pending(c.kind, _consent_no_only(workspace, c), c.quarantine, c.source)
                for _, c in checked_all
            ]
            commit(workspace, pending, ingested_at, ingest_id)
            raise _all_rejected_error(failed)
        pending: list[Pending] = []
        summaries: dict[str, TableSummary] = {}
        for raw, checked in checked_all:
            if raw.kind == C.ORDERS:
                _refuse_relabelled_lines(workspace, checked)
            with stage(f"merge {raw.kind}") as s:
                existing = read_existing(workspace, raw.kind)
                merged = merge(raw.kind, existing, checked.accepted, checked.provided)
                merged.frame = apply_no(merged.frame, checked.consent_no)
                s.note(
                    f"{merged.rows_new:,} new, {merged.rows_updated:,} updated, "
                    f"{merged.rows_unchanged:,} unchanged"
                )
            pending.append(Pending(raw.kind, merged.frame, checked.quarantine, raw.source))
            if checked.rows_guest:
                pending.append(_guest_lines(workspace, checked))
            summary = _summary(workspace, checked, merged)
            summary.encoding = raw.encoding if raw.encoding != "utf-8" else None
            summaries[raw.kind] = summary
        with stage("write workspace tables") as s:
            commit(workspace, pending, ingested_at, ingest_id)
            lift_tombstones(workspace, consented_again)
            s.note(", ".join(f"{p.kind}: {len(p.table):,} rows" for p in pending))
        if any(p.kind == C.CUSTOMERS for p in pending):  # consent may have been taken back
            mark_stale_exports(workspace)
    return IngestSummary(str(workspace.root), summaries, ingest_id, repairs)
