"""Read a shop's file into a frame of raw values, whatever its format.

CSV (plain or gzipped, delimiter sniffed from the header line) is read with every column as
text so that ids keep their leading zeros and bad values reach the row checks untouched.
Parquet keeps its own types (a timestamp column stays a timestamp). Reading is vectorised
(pyarrow), so millions of rows take seconds.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from churnrec.ingest.errors import IngestError

PARQUET_SUFFIXES = (".parquet", ".pq")
DELIMITERS = (",", ";", "\t", "|")


@dataclass
class RawTable:
    """One source file's rows as read, before any mapping or checking."""

    kind: str
    source: str  # what quarantine rows and the manifest call the file
    frame: pd.DataFrame  # raw values; CSV columns are text, Parquet columns keep their types
    warnings: list[str] = field(default_factory=list)


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES


def _header_line(path: Path) -> str:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as fh:
        line = fh.readline(1 << 20)
    return line.decode("utf-8", errors="replace")


def sniff_delimiter(header: str) -> str:
    """The delimiter that occurs most often in the header line (comma when none does)."""
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _read_csv(path: Path, kind: str) -> RawTable:
    try:
        header = _header_line(path)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise IngestError(f"{kind} file {path}: cannot be read ({exc})") from exc
    if not header.strip():
        raise IngestError(f"{kind} file {path}: the file is empty (no header line, no rows)")
    delimiter = sniff_delimiter(header)
    warnings: list[str] = []
    table = None
    for encoding in ("utf8", "latin-1"):
        try:
            names = _csv_names(path, delimiter, encoding)
            table = pacsv.read_csv(
                path,
                read_options=pacsv.ReadOptions(encoding=encoding, block_size=1 << 24),
                parse_options=pacsv.ParseOptions(delimiter=delimiter),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in names},
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                ),
            )
            break
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            if encoding == "utf8" and "UTF8" in str(exc).upper():
                warnings.append(f"{path.name} is not UTF-8; read as Latin-1")
                continue
            raise IngestError(f"{kind} file {path}: cannot be read as CSV ({exc})") from exc
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise IngestError(f"{kind} file {path}: cannot be read ({exc})") from exc
    assert table is not None
    return RawTable(kind, str(path), table.to_pandas(), warnings)


def _csv_names(path: Path, delimiter: str, encoding: str) -> list[str]:
    """Column names of a CSV file; duplicates would make the mapping ambiguous."""
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(encoding=encoding, block_size=1 << 16),
        parse_options=pacsv.ParseOptions(delimiter=delimiter),
    )
    names = reader.schema.names
    reader.close()
    return list(names)


def _read_parquet(path: Path, kind: str) -> RawTable:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise IngestError(f"{kind} file {path}: cannot be read as Parquet ({exc})") from exc
    return RawTable(kind, str(path), table.to_pandas())


def read_table(path: Path, kind: str) -> RawTable:
    """Read one source file; raises IngestError naming the file when it cannot be used."""
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{kind} file {path}: no such file")
    if not path.is_file():
        raise IngestError(f"{kind} file {path}: not a file")
    raw = _read_parquet(path, kind) if _is_parquet(path) else _read_csv(path, kind)
    names = [str(c) for c in raw.frame.columns]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise IngestError(
            f"{kind} file {path}: repeated column names {dupes}; columns found: {names}"
        )
    if len(raw.frame) == 0:
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
