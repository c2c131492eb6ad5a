"""`run_features`: build and write the customer snapshot of one cut-off in a workspace (labels
only when asked for; interactions are built where they are used)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from churnrec import columns as C
from churnrec.features.db import connect, default_as_of
from churnrec.features.labels import LabelWindowError, build_labels
from churnrec.features.snapshot import as_date, write_customer_snapshot
from churnrec.features.sql import literal
from churnrec.files import escape_formulas, private_dir, write_atomic, write_parquet
from churnrec.progress import stage
from churnrec.workspace import Workspace, WorkspaceError

SNAPSHOT_FILE = "customer_snapshot.parquet"
LABELS_FILE = "labels.parquet"
_OUT_SUFFIXES = (".csv", ".parquet", ".pq")
ENGINES = ("duckdb", "spark")


@dataclass(frozen=True)
class FeaturesResult:
    """What was built for one cut-off and where it went."""

    as_of: date
    snapshot_dir: Path
    snapshot_path: Path
    n_customers: int
    has_monetary: bool
    labels_path: Path | None = None  # written only when a horizon was asked for and observed
    labels_skipped_reason: str | None = None
    n_labels: int | None = None
    segment_counts: dict[str, int] = field(default_factory=dict)
    lifecycle_counts: dict[str, int] = field(default_factory=dict)
    out_path: Path | None = None

    def summary_lines(self) -> list[str]:
        lines = [
            f"cut-off {self.as_of}: {self.n_customers:,} customers",
            "segments: " + ", ".join(f"{k} {v:,}" for k, v in self.segment_counts.items()),
            "lifecycle: " + ", ".join(f"{k} {v:,}" for k, v in self.lifecycle_counts.items()),
        ]
        if not self.has_monetary:
            lines.append(
                "no monetary values in the orders up to the cut-off: monetary/spend columns and "
                "m_score are left out; RFM segments use R and F only"
            )
        if self.labels_path is not None:
            lines.append(f"labels: {self.n_labels:,} rows in {self.labels_path}")
        elif self.labels_skipped_reason:
            lines.append(f"labels skipped: {self.labels_skipped_reason}")
        lines.append(f"written to {self.snapshot_dir}")
        if self.out_path is not None:
            lines.append(f"snapshot also written to {self.out_path}")
        return lines


def _file_counts(con: duckdb.DuckDBPyConnection, path: Path, column: str) -> dict[str, int]:
    """Values of one column of a Parquet file, most common first (ties in order of first
    appearance), counted by DuckDB so the file is never loaded into pandas."""
    source = f"read_parquet({literal(str(path))}, file_row_number = true)"
    rows = con.execute(
        f"SELECT CAST({column} AS VARCHAR), COUNT(*) AS n, MIN(file_row_number) AS first "
        f"FROM {source} GROUP BY 1 ORDER BY n DESC, first"
    ).fetchall()
    return {("None" if value is None else value): n for value, n, _ in rows}


def _copy_out(snapshot: Path, out: Path) -> None:
    """The written snapshot as `--out`: the Parquet file copied, or CSV row group by row group
    (each read with the file's pandas dtypes, so the text is what `write_csv` writes: formula-like
    cells escaped). Atomic and owner-only, like every file churnrec writes."""
    if not str(out).lower().endswith(".csv"):
        write_atomic(out, lambda tmp: shutil.copyfile(snapshot, tmp))
        return
    source = pq.ParquetFile(snapshot)

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as handle:
            for g in range(source.num_row_groups):
                chunk = escape_formulas(source.read_row_group(g).to_pandas())
                chunk.to_csv(handle, index=False, header=g == 0)

    write_atomic(out, write)


@dataclass(frozen=True)
class _Written:
    """What the snapshot stage wrote: enough for the summary without reading the file back."""

    n_customers: int
    n_columns: int
    has_monetary: bool
    segment_counts: dict[str, int]
    lifecycle_counts: dict[str, int]


def _write_snapshot(
    ws: Workspace,
    con: duckdb.DuckDBPyConnection,
    cutoff: date,
    engine: str,
    master: str | None,
    path: Path,
) -> _Written:
    """Build the snapshot with `engine` and write it to `path` (atomic and owner-only); DuckDB
    writes the file itself, out of core, Spark's result is written from a pandas frame."""
    scratch = path.with_name(f".{path.name}.new")
    try:
        if engine == "spark":
            from churnrec.features.spark import DEFAULT_MASTER, build_customer_snapshot_spark

            frame = build_customer_snapshot_spark(ws, cutoff, master=master or DEFAULT_MASTER)
            n_rows, monetary = len(frame), bool(frame.attrs.get("has_monetary", True))
            if frame.empty:
                return _Written(0, frame.shape[1], monetary, {}, {})
            write_parquet(frame, scratch)
        else:
            n_rows, monetary = write_customer_snapshot(con, cutoff, scratch)
        written = _Written(
            n_customers=n_rows,
            n_columns=len(pq.read_schema(scratch).names),
            has_monetary=monetary,
            segment_counts=_file_counts(con, scratch, C.RFM_SEGMENT),
            lifecycle_counts=_file_counts(con, scratch, C.LIFECYCLE_STAGE),
        )
        if n_rows:
            scratch.replace(path)
    finally:
        scratch.unlink(missing_ok=True)
    return written


def run_features(
    workspace: Workspace | str | Path,
    as_of: date | str | None = None,
    horizon_days: int | None = None,
    out: Path | str | None = None,
    engine: str = "duckdb",
    master: str | None = None,
) -> FeaturesResult:
    """Build the customer snapshot at T (default: the last order date) and write it; with
    `horizon_days` also its labels when observed. `engine="spark"`: the snapshot on PySpark."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    ws = Workspace.at(workspace)
    ws.read_manifest()  # raises WorkspaceError with a hint when nothing was ingested
    if not ws.has_table(C.ORDERS):
        raise WorkspaceError(f"no orders table at {ws.orders_path}; run `churnrec ingest` first")
    out_path = Path(out) if out is not None else None
    if out_path is not None and not str(out_path).lower().endswith(_OUT_SUFFIXES):
        raise ValueError(f"--out {out_path}: use a .csv or .parquet file name")
    con = connect(ws)
    try:
        cutoff = as_date(as_of) if as_of is not None else default_as_of(con)
        private_dir(ws.features_dir)  # snapshots hold every customer's features
        target = private_dir(ws.snapshot_dir(cutoff))

        snapshot_path = target / SNAPSHOT_FILE
        with stage(f"snapshot at {cutoff} ({engine})") as s:
            written = _write_snapshot(ws, con, cutoff, engine, master, snapshot_path)
            if not written.n_customers:
                raise WorkspaceError(f"no customer has a non-returned order on or before {cutoff}")
            s.note(f"{written.n_customers:,} customers, {written.n_columns} columns")
        labels_path, reason, n_labels = None, None, None
        stale = target / LABELS_FILE
        stale.unlink(missing_ok=True)  # never leave labels of an earlier run behind
        if horizon_days is not None:
            with stage(f"labels ({horizon_days}-day horizon)") as s:
                try:
                    labels = build_labels(
                        con, cutoff, horizon_days, observed_until=default_as_of(con)
                    )
                except LabelWindowError as exc:
                    reason = str(exc)
                    s.note("skipped")
                else:
                    labels_path = stale
                    write_parquet(labels, labels_path)
                    n_labels = len(labels)
                    s.note(f"{n_labels:,} rows, churn rate {labels[C.CHURNED].mean():.1%}")
        if out_path is not None:
            _copy_out(snapshot_path, out_path)
        return FeaturesResult(
            as_of=cutoff,
            snapshot_dir=target,
            snapshot_path=snapshot_path,
            n_customers=written.n_customers,
            labels_path=labels_path,
            labels_skipped_reason=reason,
            n_labels=n_labels,
            has_monetary=written.has_monetary,
            segment_counts=written.segment_counts,
            lifecycle_counts=written.lifecycle_counts,
            out_path=out_path,
        )
    finally:
        con.close()  # DuckDB then deletes its spill files in data/.duckdb_tmp
