"""Churn reasons in words a retention team reads ("no order for 210 days, 3x their usual gap"):
each sentence about *that* feature, from the customer's own values."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from churnrec.columns import Feature

Row = Mapping[str, Any]


def _num(row: Row, name: str) -> float | None:
    value = row.get(name)
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _recency(row: Row) -> str | None:
    days = _num(row, Feature.RECENCY_DAYS)
    if days is None:
        return None
    text = f"no order for {days:.0f} days"
    gap = _num(row, Feature.GAP_MEAN_DAYS)
    if gap and gap > 0 and days >= 1.5 * gap:
        text += f", {days / gap:.0f}x their usual gap of {gap:.0f} days"
    return text


def _frequency(row: Row) -> str | None:
    n = _num(row, Feature.FREQUENCY)
    if n is None:
        return None
    return "only one order so far" if n <= 1 else f"{n:.0f} orders so far"


def _window_change(row: Row, what: str) -> str | None:
    """Last 90 days against the 90 days before, from the 90d and 180d totals."""
    recent = _num(row, f"{what}_90d")
    both = _num(row, f"{what}_180d")
    if recent is None or both is None:
        return None
    before = both - recent
    label = "spend" if what == "spend" else "orders"
    if before <= 0:
        return f"{label} in the last 90 days: {recent:.0f} (none in the 90 days before)"
    change = (recent - before) / before
    direction = "down" if change < 0 else "up"
    return f"{label} in the last 90 days {direction} {abs(change):.0%} on the 90 days before"


def _channel(feature: str, share: float) -> str:
    channel = feature.removeprefix(Feature.CHANNEL_SHARE_PREFIX).replace("_", " ")
    if share <= 0:
        return f"no orders through the {channel} channel"
    return f"{share:.0%} of orders through the {channel} channel"


TEMPLATES: dict[str, Callable[[Row], str | None]] = {
    Feature.RECENCY_DAYS: _recency,
    Feature.FREQUENCY: _frequency,
    Feature.ORDERS_90D: lambda r: _window_change(r, "orders"),
    Feature.ORDERS_TREND: lambda r: _window_change(r, "orders"),
    Feature.SPEND_90D: lambda r: _window_change(r, "spend"),
    Feature.SPEND_TREND: lambda r: _window_change(r, "spend"),
}
TEXT = {  # features said as their own value
    Feature.GAP_LAST_DAYS: "{v:.0f} days between their last two orders",
    Feature.GAP_MEAN_DAYS: "usually {v:.0f} days between orders",
    Feature.GAP_STD_DAYS: "irregular orders: gaps vary by {v:.0f} days",
    Feature.REPEAT_PURCHASE_DAYS: "ordered on {v:.0f} days after their first",
    Feature.TENURE_DAYS: "customer for {v:.0f} days",
    Feature.MONETARY_TOTAL: "total spend so far {v:,.0f}",
    Feature.MONETARY_AVG: "average order value {v:,.0f}",
    Feature.ORDERS_30D: "{v:.0f} orders in the last 30 days",
    Feature.ORDERS_180D: "{v:.0f} orders in the last 180 days",
    Feature.SPEND_30D: "spend in the last 30 days: {v:,.0f}",
    Feature.SPEND_180D: "spend in the last 180 days: {v:,.0f}",
    Feature.DISTINCT_ITEMS: "bought {v:.0f} different items",
    Feature.DISTINCT_CATEGORIES: "bought from {v:.0f} categories",
    Feature.TOP_CATEGORY_SHARE: "{v:.0%} of purchases in one category",
    Feature.RETURN_RATE: "returns {v:.0%} of lines",
    Feature.SESSIONS: "{v:.0f} visits to the shop",
    Feature.VIEWS: "{v:.0f} product views",
    Feature.CART_ADDS: "{v:.0f} items added to the cart",
    Feature.CART_ABANDONMENT_RATE: "leaves {v:.0%} of carts without buying",
    Feature.DAYS_SINCE_LAST_VISIT: "no visit to the shop for {v:.0f} days",
    Feature.AGE: "age {v:.0f}",
    Feature.R_SCORE: "recency score {v:.0f} of 5",
    Feature.F_SCORE: "frequency score {v:.0f} of 5",
    Feature.M_SCORE: "spend score {v:.0f} of 5",
}
SUFFIX_TEXT = {  # model-derived (bgnbd_* / paretonbd_*) features, by their name's ending
    "_p_alive": "{v:.0%} chance they are still an active buyer",
    "_p_purchase_horizon": "{v:.0%} chance of an order within the churn horizon "
    "(purchase-pattern model)",
    "_expected_purchases": "expected orders in the coming horizon: {v:.1f}",
}


def reason_in_words(feature: str, value: Any, row: Row) -> str:
    """One sentence about `feature` for one reason; falls back to '<feature in words>: <value>'."""
    # Model-derived features (bgnbd_*) are not snapshot columns: the reason carries the value.
    row = {**row, feature: value} if feature not in row else row
    template = TEMPLATES.get(feature)
    said = TEXT.get(feature) or next(
        (t for end, t in SUFFIX_TEXT.items() if feature.endswith(end)), None
    )
    v = _num(row, feature)
    text = None
    if template is not None:
        text = template(row)
    elif said is not None and v is not None:
        text = said.format(v=v)  # the feature's own value
    elif feature.startswith(Feature.CHANNEL_SHARE_PREFIX) and v is not None:
        text = _channel(feature, v)
    if text:
        return text
    words = feature.replace("_", " ")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        # A missing value can push the score too: say what is missing, not "x: None".
        gap = feature in (Feature.GAP_LAST_DAYS, Feature.GAP_MEAN_DAYS, Feature.GAP_STD_DAYS)
        return (
            "no repeat order yet: no gap between orders to go by" if gap else f"{words} not known"
        )
    shown = f"{value:.3g}" if isinstance(value, float) else str(value)
    return f"{words}: {shown}"
