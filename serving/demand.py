"""`POST /demand_forecast`: a lookup in the demand champion's stored weekly forecast.

Every item gets an answer saying where it came from: its own forecast, its category's profile
(a cold item, `category_profile`) or the typical item's (`unknown_item`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import BaseModel, Field

from churnrec import columns as C
from churnrec.columns import Score
from churnrec.models import demand as D
from churnrec.serving.schemas import MAX_IDS_PER_CALL, Id

MAX_WEEKS = 52

ItemIdList = Annotated[
    list[Id],
    Field(
        min_length=1,
        max_length=MAX_IDS_PER_CALL,
        description=f"1 to {MAX_IDS_PER_CALL} item ids (strings; numbers are read as ids)",
    ),
]
Weeks = Annotated[
    int,
    Field(
        ge=1,
        le=MAX_WEEKS,
        description="How many weeks ahead (at most the model's horizon; fewer come back then)",
    ),
]
# The OpenAPI examples (`serving.openapi` puts them on the operation).
REQUEST_EXAMPLE: dict[str, Any] = {"item_ids": ["I00001", "never-sold"], "weeks": 8}
RESPONSE_EXAMPLE: dict[str, Any] = {
    "forecasts": [
        {
            "item_id": "I00001",
            "known": True,
            "fallback": None,
            "weeks": [
                {
                    "week_start": "2026-01-05",
                    "units": 12.4,
                    "units_lo80": 7.9,
                    "units_hi80": 17.6,
                    "units_lo95": 5.8,
                    "units_hi95": 20.9,
                    "revenue": 310.0,
                    "method": "lightgbm",
                }
            ],
        },
        {
            "item_id": "never-sold",
            "known": False,
            "fallback": "unknown_item",
            "weeks": [
                {
                    "week_start": "2026-01-05",
                    "units": 0.4,
                    "units_lo80": 0.0,
                    "units_hi80": 3.0,
                    "units_lo95": 0.0,
                    "units_hi95": 8.7,
                    "revenue": 9.6,
                    "method": "typical_item",
                }
            ],
        },
    ],
    Score.MODEL_VERSION: "3",
    "trained_through": "2025-12-28",
}


class ForecastWeek(BaseModel):
    """One week's forecast: units with 80% and 95% intervals, revenue when prices exist."""

    week_start: str = Field(description="Monday of the week (ISO date)")
    units: float
    units_lo80: float
    units_hi80: float
    units_lo95: float
    units_hi95: float
    revenue: float | None = Field(None, description="units x the item's recent price")
    method: str = Field(description="what made the number (the model's method or a fallback)")


class ItemForecast(BaseModel):
    item_id: str
    known: bool = Field(description="whether the model has seen this item sell")
    fallback: Literal["category_profile", "unknown_item"] | None = Field(
        None, description="null: the item's own forecast; else which fallback answered"
    )
    weeks: list[ForecastWeek]


class DemandForecastResponse(BaseModel):
    forecasts: list[ItemForecast]
    model_version: str | None
    trained_through: str | None = Field(None, description="last day of sales the model saw")


def _week(row: dict[str, Any]) -> ForecastWeek:
    revenue = row[D.REVENUE]
    return ForecastWeek(
        week_start=pd.Timestamp(row[D.WEEK_START]).date().isoformat(),
        units=float(row[D.UNITS]),
        **{b: float(row[b]) for b in D.BOUNDS},
        revenue=None if pd.isna(revenue) else float(revenue),
        method=str(row[D.METHOD]),
    )


def demand_forecast_response(
    model: D.DemandModel, item_ids: list[str], weeks: int, version: str | None
) -> DemandForecastResponse:
    """The answer for `item_ids` (in the order asked, duplicates kept)."""
    table = model.forecast_items(list(dict.fromkeys(item_ids)), weeks)
    by_item = {str(k): g for k, g in table.groupby(C.ITEM_ID, sort=False)}
    forecasts = []
    for item_id in item_ids:
        rows = by_item[item_id]
        first = rows.iloc[0]
        forecasts.append(
            ItemForecast(
                item_id=item_id,
                known=bool(first[D.KNOWN]),
                fallback=None if pd.isna(first[D.FALLBACK]) else first[D.FALLBACK],
                weeks=[_week(r) for r in rows.to_dict("records")],
            )
        )
    return DemandForecastResponse(
        forecasts=forecasts,
        model_version=version,
        trained_through=model.meta.get("trained_through"),
    )
