"""'Stock to watch', from a demand champion trained by the report's cut-off: items whose forecast
is `FAR` times above or below their mean weekly units of the last `RECENT_WEEKS` weeks, and
categories trending by `TREND` or more."""

from __future__ import annotations

from datetime import date

import pandas as pd

from churnrec import columns as C
from churnrec.insights.report.context import ReportContext
from churnrec.insights.report.section import Section
from churnrec.insights.report.text import num, signed_pct

KEY = "stock_to_watch"
RECENT_WEEKS = 8
FAR = 1.5
MIN_UNITS = 1.0
TREND = 0.10
SHOWN = 10


def build(ctx: ReportContext) -> Section:
    section = Section(KEY, "Stock to watch")
    from churnrec.store.registry import ModelNotFoundError, load_champion

    try:
        loaded = load_champion(ctx.ws, "demand")
    except ModelNotFoundError:
        section.missing.append(
            "Stock to watch: no demand model yet; `churnrec train demand` forecasts weekly "
            "units per item and category."
        )
        return section
    model = loaded.model
    through = date.fromisoformat(str(model.meta.get("trained_through", ctx.as_of))[:10])
    if through > ctx.as_of:
        section.missing.append(
            f"Stock to watch: the demand model v{loaded.version} learned from sales up to "
            f"{through}, after this report's cut-off {ctx.as_of}; it is shown in a report at "
            "that cut-off or later."
        )
        return section
    from churnrec.features.demand import UNITS, WEEK_START, weekly_sales
    from churnrec.models import demand as D

    monday = pd.Timestamp(through) - pd.Timedelta(days=6)
    sales = weekly_sales(ctx.con, through=monday.date())
    recent = sales[sales[WEEK_START] > monday - pd.Timedelta(weeks=RECENT_WEEKS)]
    section.intro = (
        f"Demand model v{loaded.version} ({model.meta.get('method', '?')}), trained through "
        f"{through}: mean weekly units forecast for the next {model.horizon_weeks} weeks against "
        f"the mean of the last {RECENT_WEEKS} weeks."
    )
    items, categories = (
        compare(
            recent.groupby(key)[UNITS].sum() / RECENT_WEEKS,
            model.level_forecast(level).groupby(D.KEY)[D.UNITS].mean(),
            key,
        )
        for key, level in ((C.ITEM_ID, D.ITEM), (C.CATEGORY, D.CATEGORY))
    )
    above, below = far_items(items)
    section.add_table("stock_items_above", above.head(SHOWN))
    section.add_table("stock_items_below", below.head(SHOWN))
    section.add_table("stock_categories", categories)
    section.notes.append(items_takeaway(above, below))
    section.notes.append(categories_takeaway(categories))
    return section


def compare(recent: pd.Series, forecast: pd.Series, key: str) -> pd.DataFrame:
    """`key, recent_weekly_units, forecast_weekly_units, change` (share, NaN from zero)."""
    frame = pd.DataFrame({"recent_weekly_units": recent, "forecast_weekly_units": forecast})
    frame = frame.fillna({"recent_weekly_units": 0.0}).dropna(subset=["forecast_weekly_units"])
    base = frame["recent_weekly_units"].where(frame["recent_weekly_units"] > 0)
    frame["change"] = frame["forecast_weekly_units"] / base - 1
    frame = frame.rename_axis(key).reset_index()
    return frame.sort_values("change", ascending=False, na_position="last", ignore_index=True)


def far_items(items: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Items forecast at >= FAR x recent sales, and at <= 1/FAR (largest gaps in units first)."""
    forecast, recent = items["forecast_weekly_units"], items["recent_weekly_units"]
    big = items.assign(gap=(forecast - recent).abs())
    up = big[(forecast >= MIN_UNITS) & (forecast >= FAR * recent)]
    down = big[(recent >= MIN_UNITS) & (forecast <= recent / FAR)]
    up, down = (x.sort_values("gap", ascending=False, ignore_index=True) for x in (up, down))
    return up.drop(columns="gap"), down.drop(columns="gap")


def _one(row: pd.Series, key: str) -> str:
    return (
        f"{row[key]} ({num(row['recent_weekly_units'], 1)} -> "
        f"{num(row['forecast_weekly_units'], 1)} units a week)"
    )


def items_takeaway(above: pd.DataFrame, below: pd.DataFrame) -> str:
    if above.empty and below.empty:
        return (
            f"No item's forecast is {FAR:g}x above or below its last {RECENT_WEEKS} weeks' "
            "sales: stock at the recent pace."
        )
    parts = []
    if len(above):
        parts.append(
            f"{len(above)} item(s) are forecast at {FAR:g}x or more their recent sales "
            f"(largest: {_one(above.iloc[0], 'item_id')}): check stock before it runs out"
        )
    if len(below):
        parts.append(
            f"{len(below)} item(s) at two thirds or less (largest drop: "
            f"{_one(below.iloc[0], 'item_id')}): hold re-orders or plan a campaign"
        )
    return "; ".join(parts) + "."


def categories_takeaway(categories: pd.DataFrame) -> str:
    up = categories[categories["change"] >= TREND]
    down = categories[categories["change"] <= -TREND]
    if up.empty and down.empty:
        return f"No category's forecast moves {TREND:.0%} or more from its recent sales."

    def named(rows: pd.DataFrame) -> str:
        return ", ".join(
            f"{r.category} ({signed_pct(r.change)})" for r in rows.head(3).itertuples()
        )

    parts = []
    if len(up):
        parts.append(f"trending up: {named(up)}")
    if len(down):
        parts.append(f"trending down: {named(down.sort_values('change'))}")
    return "Categories " + "; ".join(parts) + "."
