"""Churn reasons in words a retention team reads ("no order for 210 days, 3x their usual gap").

The churn model names the features that push a customer's score up (SHAP contributions);
this turns each into a sentence from the customer's own snapshot values. Features without a
template get "<feature name in words>: <value>". Raw numbers stay in separate export columns.
"""

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


def _window_change(row: Row, what: str, unit: str) -> str | None:
    """Last 90 days against the 90 days before, from the 90d and 180d totals."""
    recent = _num(row, f"{what}_90d")
    both = _num(row, f"{what}_180d")
    if recent is None or both is None:
        return None
    before = both - recent
    label = "spend" if what == "spend" else "orders"
    if before <= 0:
        return f"{label} in the last 90 days: {recent:.0f}{unit} (none in the 90 days before)"
    change = (recent - before) / before
    direction = "down" if change < 0 else "up"
    return f"{label} in the last 90 days {direction} {abs(change):.0%} on the 90 days before"


def _p_alive(row: Row, feature: str) -> str | None:
    p = _num(row, feature)
    return None if p is None else f"{p:.0%} chance they are still an active buyer"


def _p_purchase(row: Row, feature: str) -> str | None:
    p = _num(row, feature)
    return (
        None
        if p is None
        else f"{p:.0%} chance of an order within the churn horizon (purchase-pattern model)"
    )


def _expected(row: Row, feature: str) -> str | None:
    n = _num(row, feature)
    return None if n is None else f"expected orders in the coming horizon: {n:.1f}"


TEMPLATES: dict[str, Callable[[Row], str | None]] = {
    Feature.RECENCY_DAYS: _recency,
    Feature.GAP_LAST_DAYS: _recency,
    Feature.FREQUENCY: _frequency,
    Feature.REPEAT_PURCHASE_DAYS: _frequency,
    Feature.SPEND_TREND: lambda r: _window_change(r, "spend", ""),
    Feature.SPEND_90D: lambda r: _window_change(r, "spend", ""),
    Feature.ORDERS_TREND: lambda r: _window_change(r, "orders", ""),
    Feature.ORDERS_90D: lambda r: _window_change(r, "orders", ""),
    Feature.DAYS_SINCE_LAST_VISIT: lambda r: (
        None
        if _num(r, Feature.DAYS_SINCE_LAST_VISIT) is None
        else f"no visit to the shop for {_num(r, 'days_since_last_visit'):.0f} days"
    ),
    Feature.RETURN_RATE: lambda r: (
        None
        if _num(r, Feature.RETURN_RATE) is None
        else f"returns {_num(r, 'return_rate'):.0%} of lines"
    ),
    Feature.TENURE_DAYS: lambda r: (
        None
        if _num(r, Feature.TENURE_DAYS) is None
        else f"customer for {_num(r, 'tenure_days'):.0f} days"
    ),
}


def reason_in_words(feature: str, value: Any, row: Row) -> str:
    """One sentence for one reason; falls back to '<feature in words>: <value>'."""
    # Model-derived features (bgnbd_*) are not snapshot columns: the reason carries the value.
    row = {**row, feature: value} if feature not in row else row
    template = TEMPLATES.get(feature)
    if template is None and feature.endswith("_p_alive"):
        text = _p_alive(row, feature)
    elif template is None and feature.endswith("_p_purchase_horizon"):
        text = _p_purchase(row, feature)
    elif template is None and feature.endswith("_expected_purchases"):
        text = _expected(row, feature)
    else:
        text = template(row) if template else None
    if text:
        return text
    shown = f"{value:.3g}" if isinstance(value, float) else str(value)
    return f"{feature.replace('_', ' ')}: {shown}"
