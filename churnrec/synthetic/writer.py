"""Write a generated shop as the files `churnrec ingest` reads (CSV or Parquet)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from churnrec import columns as C
from churnrec.synthetic.shop import ShopTables

FileFormat = Literal["csv", "parquet"]
FORMATS: tuple[str, ...] = ("csv", "parquet")


def write_shop(tables: ShopTables, out_dir: str | Path, fmt: FileFormat = "csv") -> dict[str, Path]:
    """Write one file per table (`orders.csv`, `customers.csv`, ...); returns kind -> path."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for kind, frame in tables.as_dict().items():
        path = out / f"{kind}.{fmt}"
        if fmt == "csv":
            if C.AGE in frame.columns:  # ages as whole numbers ("34", not "34.0")
                frame = frame.assign(**{C.AGE: frame[C.AGE].astype("Int64")})
            frame.to_csv(path, index=False, date_format="%Y-%m-%d %H:%M:%S")
        else:
            frame.to_parquet(path, index=False)
        written[kind] = path
    return written
