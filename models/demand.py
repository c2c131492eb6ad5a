"""Demand forecast: weekly units (and revenue) per item, category and total, stored with its
intervals at training so serving is a lookup. A cold item gets its category's profile times its
share ("category_profile"); an unknown one the per-week median over items ("unknown_item")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.models.base import ChurnrecModel, ModelKind

WEEK_START = "week_start"
UNITS = "units"
BOUNDS = ("units_lo80", "units_hi80", "units_lo95", "units_hi95")
REVENUE = "revenue"
METHOD = "method"
LEVEL = "level"
KEY = "key"
STEP = "step"
KNOWN = "known"
FALLBACK = "fallback"
WEEKS = "weeks"
ITEM, CATEGORY, TOTAL = "item", "category", "total"
COLD_WEEKS = 8  # an item first sold fewer weeks ago than this is cold
FORECASTS_FILE = "forecasts.parquet"
ITEMS_FILE = "items.parquet"
META_FILE = "demand.json"
_SPREAD = {"units_lo80": 0.10, "units_hi80": 0.90, "units_lo95": 0.025, "units_hi95": 0.975}


def _fallback(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


class DemandModel(ChurnrecModel):
    """A forecast table (`level, key, step, week_start, units, units_lo80.., revenue, method`)
    and per item `item_id, category, history_weeks, recent_units, recent_share, price`."""

    kind = ModelKind.DEMAND
    unknown_ids = "population"

    def __init__(
        self,
        forecasts: pd.DataFrame | None = None,
        items: pd.DataFrame | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.forecasts = forecasts
        self.items = items
        self.meta = dict(meta or {})

    @property
    def is_fitted(self) -> bool:
        return self.forecasts is not None and self.items is not None

    @property
    def required_columns(self) -> list[str]:
        return [C.ITEM_ID]

    @property
    def horizon_weeks(self) -> int:
        return int(self.forecasts[STEP].max()) if self.is_fitted and len(self.forecasts) else 0

    @property
    def has_revenue(self) -> bool:
        return bool(self.is_fitted and self.forecasts[REVENUE].notna().any())

    def level_forecast(self, level: str, weeks: int | None = None) -> pd.DataFrame:
        """The stored forecast of one level (`item`, `category` or `total`) for `weeks` weeks."""
        self.check_fitted()
        rows = self.forecasts[self.forecasts[LEVEL] == level]
        if weeks is not None:
            rows = rows[rows[STEP] <= weeks]
        return rows.reset_index(drop=True)

    def forecast_items(self, item_ids: list[str], weeks: int | None = None) -> pd.DataFrame:
        """One row per item and week: `item_id, known, fallback, week_start, units, ..., method`;
        cold and unknown items get the module docstring's fallbacks."""
        self.check_fitted()
        weeks = min(weeks or self.horizon_weeks, self.horizon_weeks)
        own = self.level_forecast(ITEM, weeks)
        cats = self.level_forecast(CATEGORY, weeks)
        info = self.items.set_index(C.ITEM_ID)
        columns = [C.ITEM_ID, KNOWN, FALLBACK, WEEK_START, UNITS, *BOUNDS, REVENUE, METHOD]
        asked = pd.DataFrame({C.ITEM_ID: list(item_ids), "_order": range(len(item_ids))})
        cold = set(info.index[info["history_weeks"] < COLD_WEEKS])
        served = asked[C.ITEM_ID].isin(set(own[KEY])) & ~asked[C.ITEM_ID].isin(cold)
        parts = [  # items with their own forecast: one merge, however many
            asked[served]
            .merge(own.rename(columns={KEY: C.ITEM_ID}), on=C.ITEM_ID)
            .assign(**{KNOWN: True, FALLBACK: None})
        ]
        typical = None
        for item_id, order in asked[~served].itertuples(index=False):
            if item_id in info.index:
                rows = self._category_profile(info, cats, item_id, weeks)
            else:
                typical = self._typical_item(weeks) if typical is None else typical
                rows = typical
            parts.append(rows.assign(**{C.ITEM_ID: item_id, "_order": order}))
        out = pd.concat([p for p in parts if len(p)] or [parts[0]], ignore_index=True)
        out = out.sort_values(["_order", WEEK_START], kind="stable", ignore_index=True)
        return out.reindex(columns=columns)

    def _category_profile(
        self, info: pd.DataFrame, cats: pd.DataFrame, item_id: str, weeks: int
    ) -> pd.DataFrame:
        category = info.at[item_id, C.CATEGORY]
        profile = cats[cats[KEY] == category]
        if profile.empty:
            return self._typical_item(weeks).assign(**{KNOWN: True})
        share = float(info.at[item_id, "recent_share"])
        out = profile.copy()
        for col in (UNITS, *BOUNDS):
            out[col] = out[col] * share
        price = info.at[item_id, "price"]
        out[REVENUE] = out[UNITS] * price if pd.notna(price) and self.has_revenue else np.nan
        return out.assign(**{KNOWN: True, FALLBACK: "category_profile", METHOD: "category_profile"})

    def _typical_item(self, weeks: int) -> pd.DataFrame:
        own = self.level_forecast(ITEM, weeks)
        grouped = own.groupby(STEP, sort=True)
        out = pd.DataFrame(
            {
                STEP: grouped[UNITS].median().index,
                WEEK_START: grouped[WEEK_START].first().to_numpy(),
                UNITS: grouped[UNITS].median().to_numpy(),
            }
        )
        for col, q in _SPREAD.items():
            out[col] = grouped[UNITS].quantile(q).to_numpy()
        out[REVENUE] = grouped[REVENUE].median().to_numpy() if self.has_revenue else np.nan
        return out.assign(**{KNOWN: False, FALLBACK: "unknown_item", METHOD: "typical_item"})

    def _predict(self, frame: pd.DataFrame, **options: Any) -> np.ndarray:
        """The method's own units per `item_id` row (what training scores) in `week_start`, else
        the first forecast week; NaN where the forecast does not cover it."""
        table = self.level_forecast(ITEM)
        lookup = table.set_index([KEY, WEEK_START])[UNITS]
        if WEEK_START in frame.columns:
            when = pd.to_datetime(frame[WEEK_START])
        else:
            when = pd.Series(table[WEEK_START].min(), index=frame.index)
        keys = pd.MultiIndex.from_arrays([frame[C.ITEM_ID].astype(str), when])
        return lookup.reindex(keys).to_numpy(dtype="float64")

    def _answer(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per input row: `item_id, known, fallback, weeks` (a list of week dicts)."""
        wanted = frame[WEEKS] if WEEKS in frame.columns else [None] * len(frame)
        rows = []
        for item_id, n in zip(frame[C.ITEM_ID].astype(str), wanted, strict=True):
            table = self.forecast_items([item_id], None if n is None else int(n))
            weeks = [
                {
                    WEEK_START: pd.Timestamp(r[WEEK_START]).date().isoformat(),
                    UNITS: float(r[UNITS]),
                    **{b: float(r[b]) for b in BOUNDS},
                    REVENUE: None if pd.isna(r[REVENUE]) else float(r[REVENUE]),
                    METHOD: r[METHOD],
                }
                for r in table.to_dict("records")
            ]
            first = table.iloc[0] if len(table) else None
            rows.append(
                {
                    C.ITEM_ID: item_id,
                    KNOWN: bool(first[KNOWN]) if first is not None else False,
                    FALLBACK: _fallback(first[FALLBACK]) if first is not None else "unknown_item",
                    WEEKS: weeks,
                }
            )
        return pd.DataFrame(rows, columns=[C.ITEM_ID, KNOWN, FALLBACK, WEEKS])

    def _save(self, path: Path) -> None:
        self.forecasts.to_parquet(path / FORECASTS_FILE, index=False)
        self.items.to_parquet(path / ITEMS_FILE, index=False)
        (path / META_FILE).write_text(json.dumps(self.meta, indent=2, default=str) + "\n")

    @classmethod
    def _load(cls, path: Path) -> Self:
        forecasts = pd.read_parquet(path / FORECASTS_FILE)
        forecasts[WEEK_START] = pd.to_datetime(forecasts[WEEK_START])
        return cls(
            forecasts,
            pd.read_parquet(path / ITEMS_FILE),
            json.loads((path / META_FILE).read_text()),
        )
