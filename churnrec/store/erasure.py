"""`churnrec forget`: erase customers from every file of a workspace (the right to erasure).

Files are rewritten atomically under the ingest lock, a file without the id is not touched, and
tombstones keep a later ingest from bringing the customer back."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from churnrec import columns as C
from churnrec.files import write_atomic, write_json
from churnrec.ids import canonical_id
from churnrec.ingest.recovery import exclusive
from churnrec.ingest.tombstones import TOMBSTONES_FILE, add_tombstones
from churnrec.store.recommendation_log import scrub_logs
from churnrec.workspace import Workspace

# Columns of a quarantine file that churnrec adds (numbers and names, never a customer's id)
_QUARANTINE_META = frozenset(
    {C.INGEST_ID, C.INGESTED_AT, C.SOURCE_FILE, C.SOURCE_ROW, C.REASON, C.QUARANTINE_COLUMN}
    | {C.QUARANTINE_ACTION}
)
_SKIP_NAMES = frozenset({TOMBSTONES_FILE})


@dataclass
class ErasureReport:
    """What `forget` did; counts and paths only, never an id."""

    customers: int
    tombstones_added: int = 0
    rows_removed: int = 0
    files_changed: list[str] = field(default_factory=list)
    models_scrubbed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def count(self, path: Path, removed: int, root: Path) -> None:
        """Record `removed` rows taken out of `path` (nothing when 0)."""
        if removed:
            self.rows_removed += removed
            self.files_changed.append(str(path.relative_to(root)))

    def lines(self) -> list[str]:
        head = (
            f"erased {self.customers} customer(s): {self.rows_removed:,} rows removed from "
            f"{len(self.files_changed)} file(s); {self.tombstones_added} new tombstone(s)"
        )
        out = [head]
        out += [f"  changed {path}" for path in self.files_changed]
        out += [f"  model scrubbed: {name}" for name in self.models_scrubbed]
        return out


# --- one file at a time ----------------------------------------------------------------------
def _is_erased(value: object, ids: frozenset[str]) -> bool:
    """A cell names an erased id (a formula-escaped CSV cell `'-12` counts as `-12`)."""
    if not isinstance(value, str):
        return False
    text = canonical_id(value)
    return text in ids or (text.startswith("'") and text[1:] in ids)


def scrub_parquet(path: Path, ids: frozenset[str]) -> int:
    """Drop rows whose customer_id is erased; returns rows removed (0: file untouched).
    With Arrow, so the schema metadata (ingest run id, pandas dtypes) stays as it was."""
    if C.CUSTOMER_ID not in pq.read_schema(path).names:
        return 0
    keys = pq.read_table(path, columns=[C.CUSTOMER_ID]).column(C.CUSTOMER_ID)
    named = [v for v in pc.unique(keys).to_pylist() if v is not None and _is_erased(str(v), ids)]
    if not named:
        return 0
    table = pq.read_table(path)
    keys = table.column(C.CUSTOMER_ID)
    hit = pc.fill_null(pc.is_in(keys, value_set=pa.array(named, type=keys.type)), False)
    kept = table.filter(pc.invert(hit))
    write_atomic(path, lambda tmp: pq.write_table(kept, tmp))
    return table.num_rows - kept.num_rows


def _kept_rows(
    text: str, ids: frozenset[str], header: list[str] | None, id_column_only: bool
) -> tuple[str, int, list]:
    """(CSV text without erased rows, rows removed, header) of whole lines of a CSV."""
    rows = list(csv.reader(io.StringIO(text)))
    if header is None and rows:
        header, rows = rows[0], rows[1:]
        out = [header]
    else:
        out = []
    if header and C.CUSTOMER_ID in header:
        columns = [header.index(C.CUSTOMER_ID)]
    elif id_column_only:
        columns = []
    else:  # raw rows under the shop's own names: any cell but churnrec's own meta columns
        columns = [i for i, name in enumerate(header or []) if name not in _QUARANTINE_META]
    removed = 0
    for row in rows:
        cells = [row[i] for i in columns if i < len(row)]
        if any(_is_erased(cell, ids) for cell in cells):
            removed += 1
        else:
            out.append(row)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(out)
    return buf.getvalue(), removed, header or []


def scrub_csv(path: Path, ids: frozenset[str], *, id_column_only: bool = False) -> int:
    """Drop CSV rows naming an erased id (by `customer_id`, else unless `id_column_only` any cell
    but the quarantine's own); rows removed. Lines appended meanwhile are carried over."""
    with open(path, "rb") as old:
        data = old.read()
        end = data.rfind(b"\n") + 1  # a line being written is carried over with the tail
        text = data[:end].decode("utf-8", errors="surrogateescape")
        kept, removed, header = _kept_rows(text, ids, None, id_column_only)
        if not removed:
            return 0
        write_atomic(path, lambda tmp: tmp.write_bytes(kept.encode("utf-8", "surrogateescape")))
        old.seek(end)
        tail = old.read()
    if tail:
        more, gone, _ = _kept_rows(
            tail.decode("utf-8", "surrogateescape"), ids, header, id_column_only
        )
        removed += gone
        with open(path, "ab") as fh:
            fh.write(more.encode("utf-8", "surrogateescape"))
    return removed


def scrub_json_value(
    value: Any, ids: frozenset[str], *, keys_only: bool = False
) -> tuple[Any, int]:
    """(value without the ids, entries removed): entries keyed by an id, and unless `keys_only`
    (a model's JSON holds numbers as text) list items equal to an id or records of one."""
    if isinstance(value, dict):
        out, removed = {}, 0
        for key, item in value.items():
            if _is_erased(key, ids):
                removed += 1
                continue
            out[key], n = scrub_json_value(item, ids, keys_only=keys_only)
            removed += n
        return out, removed
    if isinstance(value, list):
        items, removed = [], 0
        for item in value:
            record = isinstance(item, dict) and _is_erased(item.get(C.CUSTOMER_ID), ids)
            if not keys_only and (_is_erased(item, ids) or record):
                removed += 1
                continue
            scrubbed, n = scrub_json_value(item, ids, keys_only=keys_only)
            items.append(scrubbed)
            removed += n
        return items, removed
    return value, 0


def scrub_json(path: Path, ids: frozenset[str], *, keys_only: bool = False) -> int:
    """Drop entries naming an erased id from a JSON file; returns entries removed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return 0
    scrubbed, removed = scrub_json_value(data, ids, keys_only=keys_only)
    if removed:
        write_json(path, scrubbed)
    return removed


SCRUBBERS = {".parquet": scrub_parquet, ".csv": scrub_csv, ".json": scrub_json}


def _files(folder: Path, suffixes: Iterable[str], skip: Iterable[Path] = ()) -> list[Path]:
    """Files to scrub under `folder`: not hidden (the id key, temporary files of atomic
    writers, DuckDB's spill folder), not under `skip`, not the tombstones."""
    if not folder.exists():
        return []
    skip = [Path(p) for p in skip]
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in suffixes
        and p.name not in _SKIP_NAMES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and not any(p.is_relative_to(s) for s in skip)
        and p.is_file()
        and not p.is_symlink()
    )


# Exports elsewhere in the workspace (`--out myshop/scores.csv`): rows go by their customer_id
# column only; files without one are not churnrec's and stay as they are.
EXPORT_SCRUBBERS = {".csv": partial(scrub_csv, id_column_only=True), ".parquet": scrub_parquet}


def scrub_files(
    folder: Path,
    ids: frozenset[str],
    report: ErasureReport,
    root: Path,
    scrubbers: dict = SCRUBBERS,
    skip: Iterable[Path] = (),
) -> None:
    """Scrub every file under `folder` that `scrubbers` has a scrubber for."""
    for path in _files(folder, scrubbers, skip):
        report.count(path, scrubbers[path.suffix.lower()](path, ids), root)


# --- the procedure ---------------------------------------------------------------------------
def erasure_ids(customer_ids: Iterable[object]) -> frozenset[str]:
    """The canonical ids to erase; blank ones are refused (they would match empty cells)."""
    ids = frozenset(canonical_id(c) for c in customer_ids)
    if "" in ids or not ids:
        raise ErasureInputError("give at least one customer id, and no blank ones")
    return ids


class ErasureInputError(ValueError):
    """The ids to erase cannot be read (a blank id, a file without a customer_id column)."""


def read_id_file(path: Path) -> list[str]:
    """Ids from a CSV: its `customer_id` column, or each line of a one-column file without a
    header. A blank id is an error naming the file, column and row (1-based, header excluded)."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise ErasureInputError(f"{path}: no customer ids in the file")
    header = [canonical_id(h) for h in rows[0]]
    if C.CUSTOMER_ID in header:
        column, body = header.index(C.CUSTOMER_ID), rows[1:]
    elif max(len(r) for r in rows) == 1:
        column, body = 0, rows
    else:
        raise ErasureInputError(
            f"{path}: no {C.CUSTOMER_ID!r} column (found {', '.join(header)}); give a "
            f"{C.CUSTOMER_ID} column or one id per line"
        )
    ids = []
    for number, row in enumerate(body, start=1):
        value = canonical_id(row[column]) if column < len(row) else ""
        if not value:
            if not row:
                continue  # an empty line (e.g. at the end)
            raise ErasureInputError(f"{path}, column {C.CUSTOMER_ID}, row {number}: blank id")
        ids.append(value)
    if not ids:
        raise ErasureInputError(f"{path}: no customer ids in the file")
    return ids


def forget(workspace: Workspace | str | Path, customer_ids: Iterable[object]) -> ErasureReport:
    """Erase the customers from the workspace's files and models and record tombstones."""
    from churnrec.store.erasure_models import scrub_models

    ws = Workspace.at(workspace)
    ids = erasure_ids(customer_ids)
    report = ErasureReport(customers=len(ids))
    with exclusive(ws):
        # tombstones first: an interrupted run is finished by running it again, and meanwhile
        # no ingest can bring the customer back
        report.tombstones_added = add_tombstones(ws, ids)
        for folder in (ws.data_dir, ws.outputs_dir):  # churnrec's own files
            scrub_files(folder, ids, report, ws.root)
        skip = (ws.data_dir, ws.outputs_dir, ws.mlruns_dir)
        scrub_files(ws.root, ids, report, ws.root, EXPORT_SCRUBBERS, skip)
        for path, removed in scrub_logs(ws, ids).items():  # lines named by pseudonym
            report.count(path, removed, ws.root)
        report.models_scrubbed = scrub_models(ws, ids, report)
    return report
