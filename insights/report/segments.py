"""Section 2: RFM segments and lifecycle stages with the flows between them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.columns import Feature
from churnrec.features import lifecycle
from churnrec.features import segments as rfm
from churnrec.insights.report import charts
from churnrec.insights.report.context import ORDERS, ReportContext
from churnrec.insights.report.section import Section
from churnrec.insights.report.text import label, num, pct

NOT_YET = "(not a customer yet)"


def build(ctx: ReportContext) -> Section:
    section = Section(
        "segments",
        "Value tiers and segments",
        f"RFM segments and lifecycle stages at {ctx.as_of} (rules in features/README.md).",
    )
    seg = segment_table(ctx)
    section.add_table("segments", seg)
    section.add_chart(_segment_chart(ctx, seg))
    stages, flows = lifecycle_tables(ctx)
    section.add_table("lifecycle", stages)
    section.add_table("lifecycle_flows", flows, show=False)
    section.add_chart(_flow_chart(ctx, flows))
    if ctx.churn.probability is None:
        section.missing.append(
            f"Predicted churn risk per segment: {ctx.churn.reason} (run `churnrec train churn`)."
        )
    return section


def segment_table(ctx: ReportContext) -> pd.DataFrame:
    snap = ctx.snapshot
    value = (
        snap[Feature.MONETARY_TOTAL].astype(float) if ctx.has_monetary else snap[Feature.FREQUENCY]
    )
    frame = pd.DataFrame({"segment": snap[C.RFM_SEGMENT], "value": value.to_numpy()})
    if ctx.churn.probability is not None:
        frame["risk"] = ctx.churn.probability.to_numpy()
    grouped = frame.groupby("segment", observed=True)
    out = pd.DataFrame({"customers": grouped.size()})
    out["customer_share"] = out["customers"] / out["customers"].sum()
    out["revenue_share" if ctx.has_monetary else "order_share"] = (
        grouped["value"].sum() / frame["value"].sum()
    )
    out["churn_risk"] = grouped["risk"].mean() if "risk" in frame else np.nan
    out["churned_last_period"] = _observed_churn(ctx, C.RFM_SEGMENT)
    order = [s for s in rfm.SEGMENTS if s in out.index]
    return out.reindex(order).reset_index().rename(columns={"index": "segment"})


def _observed_churn(ctx: ReportContext, column: str) -> pd.Series:
    """Share of each group at the previous cut-off who placed no order in this period."""
    prev = ctx.previous_snapshot
    if prev.empty:
        return pd.Series(dtype=float)
    buyers = ctx.query(
        f"SELECT DISTINCT customer_id FROM {ORDERS} WHERE ordered_at >= $start",
        {"start": ctx.end(ctx.previous_as_of)},
    )[C.CUSTOMER_ID]
    churned = ~prev[C.CUSTOMER_ID].isin(set(buyers))
    return churned.groupby(prev[column].to_numpy()).mean()


def lifecycle_tables(ctx: ReportContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    now = ctx.snapshot.set_index(C.CUSTOMER_ID)[C.LIFECYCLE_STAGE]
    before = ctx.previous_snapshot.set_index(C.CUSTOMER_ID)[C.LIFECYCLE_STAGE]
    stages = pd.DataFrame(
        {
            "customers": now.value_counts(),
            "previous": before.value_counts(),
        }
    ).reindex(lifecycle.STAGES)
    stages = stages.fillna(0).astype(int)
    stages["change"] = stages["customers"] - stages["previous"]
    stages["churned_last_period"] = _observed_churn(ctx, C.LIFECYCLE_STAGE)
    stages = stages.rename_axis("stage").reset_index()
    pairs = pd.DataFrame({"from_stage": before.reindex(now.index).fillna(NOT_YET), "to_stage": now})
    flows = pairs.groupby(["from_stage", "to_stage"]).size().rename("customers").reset_index()
    return stages, flows


def _segment_chart(ctx: ReportContext, seg: pd.DataFrame) -> charts.Chart:
    share = "revenue_share" if ctx.has_monetary else "order_share"
    fig, axes = charts.figure(3.6, ncols=2)
    colours = [ctx.palette.segment(s) for s in seg["segment"]]
    names = [label(s) for s in seg["segment"]]
    charts.bars(axes[0], names, seg["customer_share"], colours, horizontal=True, fmt="{:.0%}")
    axes[0].set_title("share of customers")
    charts.bars(axes[1], names, seg[share], colours, horizontal=True, fmt="{:.0%}")
    axes[1].set_title(f"share of {'revenue' if ctx.has_monetary else 'orders'}")
    axes[1].set_yticklabels([])
    top = seg.sort_values(share, ascending=False).iloc[0]
    takeaway = (
        f"{label(top['segment']).capitalize()} customers are {pct(top['customer_share'])} of "
        f"customers and bring {pct(top[share])} of {'revenue' if ctx.has_monetary else 'orders'}."
    )
    risky = seg.dropna(subset=["churn_risk"])
    if not risky.empty:
        worst = risky.sort_values("churn_risk").iloc[-1]
        takeaway += (
            f" The highest predicted churn risk is in {label(worst['segment'])} "
            f"({pct(worst['churn_risk'])} on average, {num(worst['customers'])} customers)."
        )
    return charts.render(fig, "RFM segments", takeaway)


def _flow_chart(ctx: ReportContext, flows: pd.DataFrame) -> charts.Chart:
    rows = [NOT_YET, *lifecycle.STAGES]
    matrix = (
        flows.pivot_table(index="from_stage", columns="to_stage", values="customers", aggfunc="sum")
        .reindex(index=rows, columns=list(lifecycle.STAGES))
        .fillna(0)
    )
    fig, (ax,) = charts.figure(3.4)
    charts.heatmap(ax, matrix, fmt="{:,.0f}", cmap="Purples")
    ax.set_xlabel(f"stage at {ctx.as_of}")
    ax.set_ylabel(f"stage at {ctx.previous_as_of}")
    moved = flows[(flows["from_stage"] != flows["to_stage"]) & (flows["from_stage"] != NOT_YET)]
    joined = int(flows.loc[flows["from_stage"] == NOT_YET, "customers"].sum())
    takeaway = f"{num(joined)} customers placed their first order since {ctx.previous_as_of}."
    if not moved.empty:
        top = moved.sort_values("customers").iloc[-1]
        takeaway += (
            f" The largest move: {num(top['customers'])} {label(top['from_stage'])} customers "
            f"became {label(top['to_stage'])}."
        )
    return charts.render(fig, "Lifecycle flows since the previous period", takeaway)
