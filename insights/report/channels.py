"""Section 6: acquisition channels, attribution of orders to session channels, and with
`--spend` cost per acquisition and ROI per channel and model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.insights.report import charts
from churnrec.insights.report.attribution import MODELS, Attribution, attribute
from churnrec.insights.report.context import ORDERS, SESSIONS, ReportContext
from churnrec.insights.report.section import Section
from churnrec.insights.report.spend import CHANNEL, COST, DATE
from churnrec.insights.report.text import label, num, pct, ratio
from churnrec.models.base import ModelKind

MIN_BUYERS_TO_COMPARE = 20
CLV_MODEL = ModelKind.CLV


def build(ctx: ReportContext) -> Section:
    section = Section("channels", "Channels and attribution")
    acquisition = acquisition_table(ctx)
    section.add_table("channels", acquisition, show=not acquisition.empty)
    if acquisition.empty:
        section.missing.append(
            "Acquisition channels: the customers table has no acquisition_channel (ingest "
            "--customers with that column)."
        )
    else:
        section.add_chart(_acquisition_chart(ctx, acquisition))
        if "predicted_clv" not in acquisition:
            section.missing.append(
                f"Predicted CLV per channel: no `{CLV_MODEL}` champion in the model store."
            )
    attribution = roi = pd.DataFrame()
    if not (ctx.has_events and ctx.has_event_channel):
        section.missing.append(
            "Attribution: needs events with session_id and channel (the traffic source of each "
            "session) to link orders to the sessions before them."
        )
    else:
        result = attribute(ctx)
        attribution = result.table
        section.add_chart(_attribution_chart(ctx, result))
        if ctx.spend is None:
            section.missing.append(
                "Cost per acquisition and ROI: pass --spend FILE (columns channel, date or month, "
                "cost)."
            )
        else:
            roi = spend_table(ctx)
            if roi.empty:
                section.missing.append(
                    f"Cost per acquisition and ROI: no spend row is dated before {ctx.end():%Y-%m-%d} "
                    "(the report's end); spend after it has no orders to credit yet."
                )
            else:
                section.add_chart(_roi_chart(ctx, roi))
    section.add_table("attribution", attribution, show=False)
    section.add_table("spend_roi", roi, show=False)
    return section


def acquisition_table(ctx: ReportContext) -> pd.DataFrame:
    if not ctx.has_customers:
        return pd.DataFrame()
    (known,) = ctx.con.execute(
        f"SELECT COUNT({C.ACQUISITION_CHANNEL}) FROM {C.CUSTOMERS}"
    ).fetchone()
    if not known:
        return pd.DataFrame()
    frame = ctx.query(
        f"""
        WITH cust AS (
            SELECT {C.CUSTOMER_ID} AS customer_id,
                   COALESCE(MIN({C.ACQUISITION_CHANNEL}), '(unknown)') AS channel
            FROM {C.CUSTOMERS}
            WHERE {C.SIGNED_UP_AT} IS NULL OR {C.SIGNED_UP_AT} < $end
            GROUP BY 1
        ), o AS (
            SELECT customer_id, COUNT(*) AS n, arg_min(revenue, seq) AS first_value,
                   SUM(revenue) AS revenue
            FROM {ORDERS} GROUP BY 1
        )
        SELECT channel, COUNT(*) AS customers, COUNT(o.customer_id) AS buyers,
               AVG(first_value) AS first_order_value,
               AVG(CASE WHEN n >= 2 THEN 1.0 ELSE 0.0 END)
                   FILTER (WHERE o.customer_id IS NOT NULL) AS repeat_rate,
               AVG(n) AS orders_per_buyer,
               SUM(revenue) / NULLIF(COUNT(o.customer_id), 0) AS revenue_per_buyer
        FROM cust LEFT JOIN o USING (customer_id)
        GROUP BY 1 ORDER BY customers DESC
        """,
        {"end": ctx.end()},
    )
    frame["conversion"] = frame["buyers"] / frame["customers"]
    if not ctx.has_monetary:
        frame = frame.drop(columns=["first_order_value", "revenue_per_buyer"])
    clv = _predicted_clv(ctx)
    if clv is not None:
        frame["predicted_clv"] = frame["channel"].map(clv)
    return frame


def _predicted_clv(ctx: ReportContext) -> pd.Series | None:
    """Mean predicted CLV per acquisition channel from a `clv` champion, when one exists."""
    from churnrec.store.registry import ModelNotFoundError, load_champion

    try:
        loaded = load_champion(ctx.ws, CLV_MODEL)
    except ModelNotFoundError:
        return None
    predict = getattr(loaded.model, "predict", None)
    if predict is None or C.ACQUISITION_CHANNEL not in ctx.snapshot:
        return None
    values = np.asarray(predict(ctx.snapshot), dtype=float).reshape(len(ctx.snapshot), -1)[:, 0]
    return pd.Series(values).groupby(ctx.snapshot[C.ACQUISITION_CHANNEL].to_numpy()).mean()


def _acquisition_chart(ctx: ReportContext, table: pd.DataFrame) -> charts.Chart:
    fig, axes = charts.figure(3.2, ncols=2)
    ordered = table.sort_values("repeat_rate", ascending=False)
    colours = [ctx.palette.channel(c) for c in ordered["channel"]]
    names = [label(c) for c in ordered["channel"]]
    charts.bars(axes[0], names, ordered["buyers"], colours, horizontal=True)
    axes[0].set_title("customers with an order")
    charts.bars(axes[1], names, ordered["repeat_rate"], colours, horizontal=True, fmt="{:.0%}")
    axes[1].set_title("repeat rate (2+ orders)")
    axes[1].set_yticklabels([])
    big = ordered[ordered["buyers"] >= MIN_BUYERS_TO_COMPARE]
    takeaway = "Too few customers per acquisition channel to compare repeat rates."
    if len(big) >= 2:
        best, worst = big.iloc[0], big.iloc[-1]
        takeaway = (
            f"{label(best['channel']).capitalize()}-acquired customers repeat "
            f"{ratio(best['repeat_rate'], worst['repeat_rate'])} as often as "
            f"{label(worst['channel'])} ones ({pct(best['repeat_rate'])} vs "
            f"{pct(worst['repeat_rate'])} with 2+ orders)."
        )
        if "first_order_value" in big:
            top = big.sort_values("first_order_value").iloc[-1]
            takeaway += (
                f" The largest first orders come via {label(top['channel'])} "
                f"({num(top['first_order_value'], 2)} on average)."
            )
    return charts.render(fig, "Acquisition channels", takeaway)


def _attribution_chart(ctx: ReportContext, result: Attribution) -> charts.Chart:
    table = result.table
    share = "revenue_share" if "revenue_share" in table else "order_share"
    grid = table.pivot(index="channel", columns="model", values=share).reindex(
        columns=[m for m in MODELS if m in set(table["model"])]
    )
    grid = grid.fillna(0).sort_values("last_touch", ascending=False)
    fig, (ax,) = charts.figure(3.6)
    width = 0.8 / grid.shape[1]
    shades = np.linspace(0.35, 1.0, grid.shape[1])
    for j, model in enumerate(grid.columns):
        colours = [ctx.palette.channel(c) for c in grid.index]
        ax.bar(
            np.arange(len(grid)) + j * width,
            grid[model],
            width,
            color=colours,
            alpha=float(shades[j]),
            edgecolor="black" if model == "markov" else "none",
            linewidth=0.6,
        )
    ax.set_xticks(np.arange(len(grid)) + 0.4 - width / 2, [label(c) for c in grid.index])
    ax.set_ylabel(f"share of {'revenue' if share == 'revenue_share' else 'orders'}")
    ax.set_title(
        "each channel's share under: "
        + ", ".join(label(m) for m in grid.columns)
        + " (left to right; markov outlined)",
        fontsize=9,
    )
    spread = grid["first_touch"] - grid["last_touch"]
    opener, closer = spread.idxmax(), spread.idxmin()
    takeaway = (
        f"{pct(result.touched_orders / max(result.orders, 1))} of {num(result.orders)} orders "
        f"had a session in the {ctx.config.attribution_lookback_days} days before them. "
        f"{label(opener).capitalize()} opens journeys ({pct(grid.loc[opener, 'first_touch'])} "
        f"first touch vs {pct(grid.loc[opener, 'last_touch'])} last touch), "
        f"{label(closer)} closes them ({pct(grid.loc[closer, 'last_touch'])} last touch)."
    )
    if "markov" in grid:
        top = grid["markov"].idxmax()
        takeaway += (
            f" The data-driven (Markov) model credits {label(top)} most: "
            f"{pct(grid.loc[top, 'markov'])}."
        )
    return charts.render(fig, "Attribution models side by side", takeaway)


def spend_table(ctx: ReportContext) -> pd.DataFrame:
    """Cost, credited acquisitions and revenue per channel and model over the spend's period."""
    spend = ctx.spend
    spend = spend[spend[DATE] < ctx.end()]
    if spend.empty:
        return pd.DataFrame()
    since = spend[DATE].min()
    credited = attribute(ctx, since=since).table
    cost = spend.groupby(CHANNEL)[COST].sum()
    rows = []
    for model in MODELS:
        part = credited[credited["model"] == model].set_index("channel")
        for channel, spent in cost.items():
            orders = float(part["orders"].get(channel, 0.0))
            new = float(part["new_customers"].get(channel, 0.0))
            row = {
                "channel": channel,
                "model": model,
                "cost": float(spent),
                "orders": orders,
                "new_customers": new,
                "cost_per_acquisition": spent / new if new else None,
                "cost_per_order": spent / orders if orders else None,
            }
            if "revenue" in part:
                revenue = float(part["revenue"].get(channel, 0.0))
                row["revenue"] = revenue
                row["roi"] = (revenue - spent) / spent if spent else None
            rows.append(row)
    frame = pd.DataFrame(rows)
    frame.attrs["since"] = since
    return frame


def _roi_chart(ctx: ReportContext, roi: pd.DataFrame) -> charts.Chart:
    measure = "roi" if "roi" in roi else "cost_per_acquisition"
    grid = roi.pivot(index="channel", columns="model", values=measure).reindex(columns=MODELS)
    fig, (ax,) = charts.figure(0.9 + 0.4 * len(grid))
    shown = grid.astype(float).rename(columns=label)
    charts.heatmap(
        ax,
        shown,
        fmt="{:+.0%}" if measure == "roi" else "{:,.1f}",
        cmap="RdYlGn" if measure == "roi" else "Oranges",
        centre=0.0 if measure == "roi" else None,
    )
    ax.set_title(f"{'ROI' if measure == 'roi' else 'cost per acquisition'} per channel and model")
    since = roi.attrs.get("since")
    swing = (grid.max(axis=1) - grid.min(axis=1)).dropna()
    takeaway = f"Spend from {pd.Timestamp(since).date()} to {ctx.as_of}."
    if not swing.empty:
        ch = swing.idxmax()
        lo, hi = grid.loc[ch].idxmin(), grid.loc[ch].idxmax()
        fmt = (lambda v: f"{v:+.0%}") if measure == "roi" else (lambda v: f"{v:,.1f}")
        takeaway += (
            f" The model matters most for {label(ch)}: {fmt(grid.loc[ch, lo])} under "
            f"{label(lo)} against {fmt(grid.loc[ch, hi])} under {label(hi)}."
        )
    sessions = ctx.query(f"SELECT DISTINCT channel FROM {SESSIONS} WHERE channel IS NOT NULL")
    unmatched = sorted(set(roi["channel"]) - set(sessions["channel"]))
    if unmatched:
        takeaway += f" No sessions came from {', '.join(unmatched)}, so nothing is credited to it."
    return charts.render(fig, "Return on spend", takeaway)
