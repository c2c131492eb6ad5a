"""The optional marketing spend table (`--spend FILE`: channel, date or month, cost); errors
name the file, column and 1-based data row so the file can be fixed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

CHANNEL, DATE, MONTH, COST = "channel", "date", "month", "cost"
MAX_ROWS_NAMED = 5


class SpendError(ValueError):
    """The spend file cannot be used as it is."""


def read_spend(path: Path) -> pd.DataFrame:
    """`channel` (str), `date` (first day the cost covers), `cost` (float >= 0)."""
    path = Path(path)
    if not path.is_file():
        raise SpendError(f"spend file {path}: no such file")
    raw = _read(path)
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    found = ", ".join(raw.columns) or "(none)"
    when = DATE if DATE in raw.columns else MONTH if MONTH in raw.columns else None
    missing = [c for c in (CHANNEL, COST) if c not in raw.columns]
    if when is None:
        missing.append("date or month")
    if missing:
        raise SpendError(
            f"spend file {path}: missing column(s) {', '.join(missing)}; columns found: "
            f"{found}. Expected channel, date (YYYY-MM-DD) or month (YYYY-MM), cost."
        )
    if raw.empty:
        raise SpendError(f"spend file {path}: no rows")
    channel = raw[CHANNEL].astype("string").str.strip()
    cost_text = raw[COST].astype("string").str.strip()
    cost = pd.to_numeric(cost_text, errors="coerce")
    fmt = "%Y-%m-%d" if when == DATE else "%Y-%m"
    when_text = raw[when].astype("string").str.strip().str.slice(0, 10 if when == DATE else 7)
    stamp = pd.to_datetime(when_text, format=fmt, errors="coerce")
    problems = [
        (channel.isna() | (channel == ""), CHANNEL, "is empty"),
        (cost.isna(), COST, "is not a number"),
        (cost < 0, COST, "is negative"),
        (stamp.isna(), when, f"is not a {'date YYYY-MM-DD' if when == DATE else 'month YYYY-MM'}"),
    ]
    for bad, column, what in problems:
        bad = bad.fillna(False).to_numpy(dtype=bool)
        if bad.any():
            rows = (bad.nonzero()[0] + 1)[:MAX_ROWS_NAMED]
            shown = ", ".join(f"row {r} ({raw[column].iloc[r - 1]!r})" for r in rows)
            more = f" and {int(bad.sum()) - len(rows)} more" if bad.sum() > len(rows) else ""
            raise SpendError(f"spend file {path}: column {column} {what} in {shown}{more}")
    return pd.DataFrame({CHANNEL: channel.astype(str), DATE: stamp, COST: cost.astype(float)})


def _read(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if name.endswith((".csv", ".csv.gz", ".txt")):
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (OSError, ValueError) as exc:
        raise SpendError(f"spend file {path}: cannot be read ({exc})") from exc
    raise SpendError(f"spend file {path}: use a .csv, .csv.gz or .parquet file")
