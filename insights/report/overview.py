"""Section 1: the shop in numbers for this period against the previous one."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from churnrec.insights.report import charts
from churnrec.insights.report.context import ORDERS, ReportContext
from churnrec.insights.report.palette import ACCENT, MUTED
from churnrec.insights.report.section import Section
from churnrec.insights.report.text import change, label, num, pct, signed_pct

METRICS = (
    ("customers", "customers (ever ordered)"),
    ("active_customers", "active customers (ordered in the period)"),
    ("orders", "orders"),
    ("revenue", "revenue"),
    ("average_order_value", "average order value"),
    ("repeat_purchase_rate", "repeat-purchase rate (customers with 2+ orders)"),
    ("median_days_between_orders", "median days between orders"),
)
MONTHS_SHOWN = 24


def _period(ctx: ReportContext, end: pd.Timestamp) -> dict[str, float | None]:
    start = end - timedelta(days=ctx.period_days)
    row = ctx.con.execute(
        f"""
        WITH upto AS (SELECT * FROM {ORDERS} WHERE ordered_at < $end),
        inside AS (SELECT * FROM upto WHERE ordered_at >= $start),
        per_customer AS (SELECT customer_id, COUNT(*) AS n FROM upto GROUP BY 1)
        SELECT
            (SELECT COUNT(*) FROM per_customer),
            (SELECT COUNT(DISTINCT customer_id) FROM inside),
            (SELECT COUNT(*) FROM inside),
            (SELECT SUM(revenue) FROM inside),
            (SELECT AVG(CASE WHEN n >= 2 THEN 1.0 ELSE 0.0 END) FROM per_customer),
            (SELECT MEDIAN(date_diff('day', CAST(previous_at AS DATE), CAST(ordered_at AS DATE)))
             FROM inside
             WHERE previous_at IS NOT NULL
               AND CAST(previous_at AS DATE) < CAST(ordered_at AS DATE))
        """,
        {"start": start, "end": end},
    ).fetchone()
    customers, active, orders, revenue, repeat, gap = row
    revenue = float(revenue) if revenue is not None and ctx.has_monetary else None
    return {
        "customers": customers,
        "active_customers": active,
        "orders": orders,
        "revenue": revenue,
        "average_order_value": revenue / orders if revenue is not None and orders else None,
        "repeat_purchase_rate": float(repeat) if repeat is not None else None,
        "median_days_between_orders": float(gap) if gap is not None else None,
    }


def build(ctx: ReportContext) -> Section:
    section = Section(
        "overview",
        "Overview",
        f"The {ctx.period_days} days up to {ctx.as_of} against the {ctx.period_days} days before.",
    )
    now = _period(ctx, ctx.end())
    before = _period(ctx, ctx.end(ctx.previous_as_of))
    table = pd.DataFrame(
        [
            (key, text, now[key], before[key], change(now[key], before[key]))
            for key, text in METRICS
            if ctx.has_monetary or key not in ("revenue", "average_order_value")
        ],
        columns=["metric", "label", "value", "previous", "change"],
    )
    section.add_table("overview", table, columns=["label", "value", "previous", "change"])
    if not ctx.has_monetary:
        section.missing.append(
            "Revenue and average order value: the orders carry no prices (add an amount or "
            "unit price column to the orders)."
        )
    section.add_chart(_monthly_chart(ctx, now, before))
    return section


def _monthly_chart(ctx: ReportContext, now: dict, before: dict) -> charts.Chart:
    monthly = ctx.query(
        f"""
        SELECT date_trunc('month', ordered_at) AS month, COUNT(*) AS orders,
               SUM(revenue) AS revenue, COUNT(DISTINCT customer_id) AS customers
        FROM {ORDERS} GROUP BY 1 ORDER BY 1
        """
    ).tail(MONTHS_SHOWN)
    value = "revenue" if ctx.has_monetary else "orders"
    fig, (ax,) = charts.figure(3.2)
    months = pd.to_datetime(monthly["month"]).dt.strftime("%Y-%m")
    colours = [MUTED] * (len(months) - 1) + [ACCENT]  # the last month may be partial
    ax.bar(months, monthly[value].astype(float), color=colours)
    ax.set_ylabel(value)
    ax.tick_params(axis="x", rotation=60, labelsize=8)
    ax.set_title(f"{value.capitalize()} per month (last month up to {ctx.as_of})")
    moved = change(now[value], before[value])
    direction = "up" if (moved or 0) >= 0 else "down"
    takeaway = (
        f"{label(value).capitalize()} in the last {ctx.period_days} days: {num(now[value])}, "
        f"{direction} {signed_pct(moved).lstrip('+-')} on the period before; "
        f"{num(now['active_customers'])} customers ordered "
        f"({signed_pct(change(now['active_customers'], before['active_customers']))}), "
        f"and {pct(now['repeat_purchase_rate'])} of all customers have ordered more than once."
    )
    return charts.render(fig, "Orders over time", takeaway)
