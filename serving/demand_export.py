"""`churnrec forecast`: the demand champion's weekly forecast as a CSV or Parquet file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from churnrec import columns as C
from churnrec.files import check_table_path, write_table
from churnrec.ids import read_id_list
from churnrec.models import demand as D
from churnrec.workspace import Workspace

ITEM_COLUMNS = [C.ITEM_ID, D.WEEK_START, D.UNITS, *D.BOUNDS, D.REVENUE, D.METHOD]


@dataclass
class ForecastExport:
    path: Path
    rows: int
    keys: int
    version: str
    fallbacks: int  # items answered by a fallback

    def summary_lines(self) -> list[str]:
        line = f"wrote {self.rows:,} rows ({self.keys:,} series) to {self.path}"
        line += f" from demand v{self.version}"
        if self.fallbacks:
            line += f"; {self.fallbacks:,} items answered by a fallback (see the method column)"
        return [line]


def forecast_table(
    model: D.DemandModel, level: str, weeks: int, items: list[str] | None
) -> tuple[pd.DataFrame, int]:
    """(the rows to write, how many items a fallback answered)."""
    if level == D.CATEGORY:
        rows = model.level_forecast(D.CATEGORY, weeks).rename(columns={D.KEY: C.CATEGORY})
        columns = [C.CATEGORY, *ITEM_COLUMNS[1:]]
        fallbacks = 0
    else:
        ids = items if items is not None else model.level_forecast(D.ITEM)[D.KEY].unique().tolist()
        rows = model.forecast_items(list(ids), weeks)
        fallbacks = int(rows.drop_duplicates(C.ITEM_ID)[D.FALLBACK].notna().sum())
        columns = ITEM_COLUMNS
    rows = rows.copy()
    numbers = [D.UNITS, *D.BOUNDS, D.REVENUE]
    rows[numbers] = rows[numbers].astype("float64").round(3)
    rows[D.WEEK_START] = pd.to_datetime(rows[D.WEEK_START]).dt.strftime("%Y-%m-%d")
    if not model.has_revenue:
        columns = [c for c in columns if c != D.REVENUE]
    return rows[columns].reset_index(drop=True), fallbacks


def export_forecast(
    ws: Workspace, *, out: Path, weeks: int, level: str, items_file: Path | None = None
) -> ForecastExport:
    from churnrec.store.registry import load_champion

    check_table_path(out)
    loaded = load_champion(ws, "demand")
    items = read_id_list(items_file, C.ITEM_ID) if items_file is not None else None
    frame, fallbacks = forecast_table(loaded.model, level, weeks, items)
    write_table(frame, out)
    key = C.CATEGORY if level == D.CATEGORY else C.ITEM_ID
    return ForecastExport(out, len(frame), frame[key].nunique(), str(loaded.version), fallbacks)
