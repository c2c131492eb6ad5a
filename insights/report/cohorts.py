"""Section 4: cohorts by first-order month and the days between orders."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import colormaps

from churnrec.insights.report import charts
from churnrec.insights.report.context import ORDERS, ReportContext
from churnrec.insights.report.palette import ACCENT
from churnrec.insights.report.section import Section
from churnrec.insights.report.text import num, pct

MAX_OFFSET = 12  # months after the first order shown
COHORTS_SHOWN = 12
GAP_CAP_DAYS = 365


def build(ctx: ReportContext) -> Section:
    section = Section(
        "cohorts",
        "Cohorts",
        "Customers grouped by the month of their first order. Month 0 is that month; the "
        "last month of each row may be partial.",
    )
    cohorts = cohort_table(ctx)
    section.add_table("cohorts", cohorts, show=False)
    retention = _retention_chart(cohorts)
    section.add_chart(retention)
    if retention is None:
        section.missing.append(
            "Retention by cohort: no customer has ordered in a month after their first yet."
        )
    if ctx.has_monetary:
        section.add_chart(_revenue_chart(cohorts))
    else:
        section.missing.append(
            "Revenue per customer by cohort: the orders carry no prices (add an amount column)."
        )
    gaps = gap_table(ctx)
    section.add_table("days_between_orders", gaps, show=False)
    if gaps.empty:
        section.missing.append(
            "Days between orders: no customer has ordered on two different days yet."
        )
    else:
        section.add_chart(_gap_chart(gaps))
    return section


def cohort_table(ctx: ReportContext) -> pd.DataFrame:
    """cohort x month offset: customers of the cohort, active ones, retention, revenue."""
    frame = ctx.query(
        f"""
        WITH first AS (
            SELECT customer_id, date_trunc('month', MIN(ordered_at)) AS cohort
            FROM {ORDERS} GROUP BY 1
        ), sizes AS (SELECT cohort, COUNT(*) AS customers FROM first GROUP BY 1),
        activity AS (
            SELECT f.cohort,
                   date_diff('month', f.cohort, date_trunc('month', o.ordered_at)) AS month,
                   COUNT(DISTINCT o.customer_id) AS active_customers,
                   SUM(o.revenue) AS revenue
            FROM {ORDERS} o JOIN first f USING (customer_id)
            GROUP BY 1, 2
        )
        SELECT strftime(a.cohort, '%Y-%m') AS cohort, a.month, s.customers,
               a.active_customers, a.revenue
        FROM activity a JOIN sizes s USING (cohort)
        WHERE a.month <= {MAX_OFFSET}
        ORDER BY 1, 2
        """
    )
    frame["retention"] = frame["active_customers"] / frame["customers"]
    frame["revenue_per_customer"] = frame["revenue"] / frame["customers"]
    frame["cumulative_revenue_per_customer"] = frame.groupby("cohort")[
        "revenue_per_customer"
    ].cumsum()
    return frame


def gap_table(ctx: ReportContext) -> pd.DataFrame:
    """How many repeat orders came N days after the customer's previous order day."""
    return ctx.query(
        f"""
        SELECT date_diff('day', CAST(previous_at AS DATE), CAST(ordered_at AS DATE)) AS days,
               COUNT(*) AS orders
        FROM {ORDERS}
        WHERE previous_at IS NOT NULL AND CAST(previous_at AS DATE) < CAST(ordered_at AS DATE)
        GROUP BY 1 ORDER BY 1
        """
    )


def _recent(cohorts: pd.DataFrame) -> pd.DataFrame:
    names = sorted(cohorts["cohort"].unique())[-COHORTS_SHOWN:]
    return cohorts[cohorts["cohort"].isin(names)]


def _retention_chart(cohorts: pd.DataFrame) -> charts.Chart | None:
    recent = _recent(cohorts)
    grid = recent.pivot(index="cohort", columns="month", values="retention")
    grid = grid.drop(columns=0, errors="ignore").dropna(how="all")
    if grid.empty:
        return None
    fig, (ax,) = charts.figure(0.8 + 0.32 * len(grid))
    charts.heatmap(ax, grid, fmt="{:.0%}", cmap="Blues")
    ax.set_xlabel("months after the first order")
    ax.set_title("share of each cohort ordering again in month N")
    month1 = cohorts[cohorts["month"] == 1]
    sizes = cohorts.drop_duplicates("cohort").set_index("cohort")["customers"]
    takeaway = "Too few cohorts to compare yet."
    if len(month1) >= 2:
        weighted = (month1["retention"] * month1["customers"]).sum() / month1["customers"].sum()
        best = month1.sort_values("retention").iloc[-1]
        takeaway = (
            f"On average {pct(weighted)} of new customers order again in the month after their "
            f"first order; the best cohort was {best['cohort']} ({pct(best['retention'])} of "
            f"{num(sizes[best['cohort']])})."
        )
    return charts.render(fig, "Retention by first-order month", takeaway)


def _revenue_chart(cohorts: pd.DataFrame) -> charts.Chart:
    recent = _recent(cohorts)
    fig, (ax,) = charts.figure(3.2)
    names = sorted(recent["cohort"].unique())
    shades = [tuple(c) for c in colormaps["viridis"](np.linspace(0.1, 0.9, len(names)))]
    for name, colour in zip(names, shades, strict=True):
        rows = recent[recent["cohort"] == name]
        ax.plot(rows["month"], rows["cumulative_revenue_per_customer"], color=colour, label=name)
    ax.set_xlabel("months after the first order")
    ax.set_ylabel("revenue per customer, cumulative")
    ax.legend(fontsize=7, ncols=2, frameon=False)
    three = cohorts[cohorts["month"] == 3].set_index("cohort")["cumulative_revenue_per_customer"]
    takeaway = "Cohorts are too young to compare their first three months."
    if len(three) >= 2:
        takeaway = (
            f"By their fourth month, customers of {three.idxmax()} had spent "
            f"{num(three.max())} each against {num(three.min())} for {three.idxmin()}."
        )
    return charts.render(fig, "Revenue per customer by cohort", takeaway)


def _gap_chart(gaps: pd.DataFrame) -> charts.Chart:
    days = np.repeat(gaps["days"].to_numpy(), gaps["orders"].to_numpy())
    median, p80 = np.percentile(days, [50, 80])
    fig, (ax,) = charts.figure(3.0)
    ax.hist(np.minimum(days, GAP_CAP_DAYS), bins=52, color=ACCENT)
    ax.axvline(median, color="black", linestyle="--", linewidth=1)
    ax.set_xlabel(f"days since the customer's previous order (capped at {GAP_CAP_DAYS})")
    ax.set_ylabel("repeat orders")
    takeaway = (
        f"Half of all repeat orders come within {median:.0f} days of the previous one and 80% "
        f"within {p80:.0f} days: a customer silent for much longer than {p80:.0f} days is "
        "unusually late."
    )
    return charts.render(fig, "Days between orders", takeaway)
