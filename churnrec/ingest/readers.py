"""Read a shop's file into raw values. CSV columns are all text (ids keep leading zeros, bad values
reach the row checks); Parquet keeps its types. Ragged rows are set aside, not fatal; size caps
are checked before parsing, in constant memory, so a gzip bomb stops at the cap."""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from churnrec.ingest.encoding import BAD_BYTE_MARK, ESCAPED, decode
from churnrec.ingest.errors import IngestError
from churnrec.ingest.options import ReadOptions

PARQUET_SUFFIXES = (".parquet", ".pq")
DELIMITERS = (",", ";", "\t", "|")


def _too_large(
    kind: str, path: Path, what: str, limits: ReadOptions, rows: bool = False
) -> IngestError:
    """`what` is over the size (or `rows`) cap: say which cap, and how to raise it."""
    flag, cap = (
        ("--max-rows", limits.max_rows) if rows else ("--max-input-bytes", limits.max_input_bytes)
    )
    return IngestError(
        f"{kind} file {path}: {what} is over the cap of {cap:,} ({flag}); nothing was stored. "
        f"Split the file, or raise the cap with {flag} N (config key "
        f"{flag[2:].replace('-', '_')})"
    )


def check_size(path: Path, kind: str, limits: ReadOptions) -> None:
    """Refuse a file over the caps before parsing it, in constant memory (module docstring)."""
    if _is_parquet(path):
        try:
            meta = pq.read_metadata(path)
        except (pa.ArrowException, OSError) as exc:
            raise IngestError(f"{kind} file {path}: cannot be read as Parquet ({exc})") from exc
        if meta.num_rows > limits.max_rows:
            raise _too_large(kind, path, f"its row count ({meta.num_rows:,})", limits, rows=True)
        size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if size > limits.max_input_bytes:
            raise _too_large(kind, path, f"its uncompressed size ({size:,} bytes)", limits)
        return
    if path.suffix.lower() != ".gz":
        size = path.stat().st_size
        if size > limits.max_input_bytes:
            raise _too_large(kind, path, f"its size ({size:,} bytes)", limits)
        return
    size = lines = 0
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(1 << 22):
                size += len(chunk)
                lines += chunk.count(b"\n")
                if size > limits.max_input_bytes:
                    raise _too_large(
                        kind, path, "its decompressed size (read until the cap)", limits
                    )
                if lines - 1 > limits.max_rows:  # the header is a line, not a row
                    what = "its row count (read until the cap)"
                    raise _too_large(kind, path, what, limits, rows=True)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise IngestError(f"{kind} file {path}: cannot be read ({exc})") from exc


@dataclass
class RawTable:
    """One source file's rows as read, before any mapping or checking."""

    kind: str
    source: str  # what quarantine rows and the manifest call the file
    frame: pd.DataFrame  # raw values; CSV columns are text, Parquet columns keep their types
    warnings: list[str] = field(default_factory=list)
    # 1-based data row (header excluded) of each frame row; None: rows 1..n in order
    row_numbers: np.ndarray | None = None
    # rows the parser could not split into the header's columns: (data row, raw text)
    ragged: list[tuple[int, str]] = field(default_factory=list)
    encoding: str = "utf-8"
    bad_bytes: int = 0  # bytes that were not UTF-8, marked in their cells (encoding.py)

    def rows(self) -> np.ndarray:
        if self.row_numbers is None:
            return np.arange(1, len(self.frame) + 1)
        return self.row_numbers


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES


def _open(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")


def _arrow_csv(
    source: Path | io.BytesIO, delimiter: str, numbered: bool
) -> tuple[pa.Table, list[tuple[int | None, str]]]:
    """Every column as text; rows with the wrong number of fields are set aside, not fatal."""
    if isinstance(source, io.BytesIO):
        source.seek(0)
    reader = pacsv.open_csv(
        source,
        read_options=pacsv.ReadOptions(block_size=1 << 16),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=lambda _: "skip"),
    )
    names = reader.schema.names
    reader.close()
    ragged: list[tuple[int | None, str]] = []

    def skip(row: pacsv.InvalidRow) -> str:
        ragged.append((row.number, row.text))
        return "skip"

    if isinstance(source, io.BytesIO):
        source.seek(0)
    table = pacsv.read_csv(
        source,
        read_options=pacsv.ReadOptions(block_size=1 << 24, use_threads=not numbered),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=skip),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    return table, ragged


def _read_csv(path: Path, kind: str) -> RawTable:
    warnings: list[str] = []
    source: Path | io.BytesIO = path
    encoding = "utf-8"
    bad_bytes = 0
    try:
        with _open(path) as fh:
            header = fh.readline(1 << 20).decode("utf-8", errors="replace")
        if not header.strip():
            raise IngestError(f"{kind} file {path}: the file is empty (no header line, no rows)")
        delimiter = max(DELIMITERS, key=header.count)  # the commonest; none: the first, a comma
        try:
            table, ragged = _arrow_csv(path, delimiter, numbered=False)
        except pa.ArrowInvalid as exc:
            if "UTF8" not in str(exc).upper():
                raise
            with _open(path) as fh:
                decoded = decode(fh.read())
            encoding, bad_bytes = decoded.encoding, decoded.bad_bytes
            if decoded.encoding != "utf-8":
                warnings.append(f"{path.name} is not UTF-8: read as {decoded.encoding}")
            source = io.BytesIO(decoded.text.encode("utf-8"))
            table, ragged = _arrow_csv(source, delimiter, numbered=False)
        if ragged and any(number is None for number, _ in ragged):
            table, ragged = _arrow_csv(source, delimiter, numbered=True)
    except pa.ArrowInvalid as exc:
        raise IngestError(f"{kind} file {path}: cannot be read as CSV ({exc})") from exc
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise IngestError(f"{kind} file {path}: cannot be read ({exc})") from exc
    frame = table.to_pandas()
    row_numbers = None
    bad_rows = [(int(number or 0) - 1, text) for number, text in ragged]  # line 1 is the header
    if bad_rows:
        all_rows = np.arange(1, len(frame) + len(bad_rows) + 1)
        row_numbers = np.setdiff1d(all_rows, [row for row, _ in bad_rows])[: len(frame)]
        warnings.append(
            f"{len(bad_rows):,} rows do not have the header's {table.num_columns} fields: "
            "quarantined as ragged_row"
        )
    return RawTable(kind, str(path), frame, warnings, row_numbers, bad_rows, encoding, bad_bytes)


def _text_column(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, int]:
    """A string column as valid UTF-8: bytes that are not become BAD_BYTE_MARK (like CSV)."""
    try:
        column.validate(full=True)
        return column, 0
    except pa.ArrowInvalid:
        pass
    # a Python pass, but only over a column that holds bytes that are not UTF-8 (rare)
    raw = column.cast(pa.binary()).to_pylist()
    texts = [None if v is None else v.decode("utf-8", "surrogateescape") for v in raw]
    bad = sum(len(m) for text in texts if text for m in ESCAPED.findall(text))
    out = [None if text is None else ESCAPED.sub(BAD_BYTE_MARK, text) for text in texts]
    return pa.chunked_array([pa.array(out, pa.string())]), bad


def _read_parquet(path: Path, kind: str) -> RawTable:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise IngestError(f"{kind} file {path}: cannot be read as Parquet ({exc})") from exc
    bad_bytes = 0
    for i, field_ in enumerate(table.schema):
        if pa.types.is_string(field_.type) or pa.types.is_large_string(field_.type):
            column, bad = _text_column(table.column(i))
            if bad:
                table = table.set_column(i, pa.field(field_.name, pa.string()), column)
                bad_bytes += bad
    warnings = []
    if bad_bytes:
        warnings.append(f"{path.name}: {bad_bytes:,} bytes in text columns are not UTF-8")
    return RawTable(kind, str(path), table.to_pandas(), warnings, bad_bytes=bad_bytes)


def read_table(path: Path, kind: str, limits: ReadOptions) -> RawTable:
    """Read one source file; raises IngestError naming the file when it cannot be used."""
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{kind} file {path}: no such file")
    if not path.is_file():
        raise IngestError(f"{kind} file {path}: not a file")
    check_size(path, kind, limits)
    raw = _read_parquet(path, kind) if _is_parquet(path) else _read_csv(path, kind)
    rows = len(raw.frame) + len(raw.ragged)
    if rows > limits.max_rows:  # a plain file within the byte cap may still hold too many
        raise _too_large(kind, path, f"its row count ({rows:,})", limits, rows=True)
    names = [str(c) for c in raw.frame.columns]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise IngestError(
            f"{kind} file {path}: repeated column names {dupes}; columns found: {names}"
        )
    if len(raw.frame) == 0 and not raw.ragged:
        raise IngestError(
            f"{kind} file {path}: the file has no data rows; columns found: {', '.join(names)}"
        )
    return raw


def read_whitespace(path: Path, kind: str, names: list[str] | None) -> RawTable:
    """Whitespace-separated text (the CDNOW files); `names=None` means the file has a header."""
    frame = pd.read_csv(
        path,
        sep=r"\s+",
        header=0 if names is None else None,
        names=names,
        dtype=str,
        keep_default_na=False,
        na_values=[""],
    )
    return RawTable(kind, str(path), frame)
