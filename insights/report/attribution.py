"""Which channels' sessions led to orders: rule-based attribution next to a Markov chain's
removal effect. A touch is a session within the lookback before an order and after the
customer's previous one; orders without one are counted but credited to no channel."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnrec.insights.report.context import ORDERS, SESSIONS, ReportContext

MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based", "markov")
START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"
TOUCHES = "r_touches"


@dataclass(frozen=True)
class Attribution:
    table: pd.DataFrame  # channel, model, orders, new_customers, revenue (credited)
    orders: int  # orders in the window
    touched_orders: int  # orders with at least one touch


def attribute(ctx: ReportContext, since: pd.Timestamp | None = None) -> Attribution:
    """Credit per channel and model for the orders from `since` (default: all) up to T."""
    cfg = ctx.config
    since = since if since is not None else pd.Timestamp("1900-01-01")
    params = {"since": since}
    ctx.con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {TOUCHES} AS
        SELECT o.customer_id || '|' || o.order_id AS journey, o.revenue,
               CASE WHEN o.seq = 1 THEN 1.0 ELSE 0.0 END AS first_order, s.channel,
               date_diff('second', s.started_at, o.ordered_at) / 86400.0 AS days_before,
               ROW_NUMBER() OVER (PARTITION BY o.customer_id, o.order_id
                                  ORDER BY s.started_at, s.session_id) AS pos,
               COUNT(*) OVER (PARTITION BY o.customer_id, o.order_id) AS n
        FROM {ORDERS} o JOIN {SESSIONS} s
          ON s.customer_id = o.customer_id AND s.started_at <= o.ordered_at
         AND s.started_at >= o.ordered_at - INTERVAL {int(cfg.attribution_lookback_days)} DAY
         AND (o.previous_at IS NULL OR s.started_at > o.previous_at)
        WHERE s.channel IS NOT NULL AND o.ordered_at >= $since
        """,
        params,
    )
    (orders,) = ctx.con.execute(
        f"SELECT COUNT(*) FROM {ORDERS} WHERE ordered_at >= $since", params
    ).fetchone()
    half_life = float(cfg.time_decay_half_life_days)
    table = ctx.query(
        f"""
        WITH w AS (
            SELECT *,
                   CASE WHEN pos = 1 THEN 1.0 ELSE 0.0 END AS first_touch,
                   CASE WHEN pos = n THEN 1.0 ELSE 0.0 END AS last_touch,
                   1.0 / n AS linear,
                   pow(0.5, days_before / {half_life})
                       / SUM(pow(0.5, days_before / {half_life})) OVER (PARTITION BY journey)
                       AS time_decay,
                   CASE WHEN n = 1 THEN 1.0 WHEN n = 2 THEN 0.5
                        WHEN pos = 1 OR pos = n THEN 0.4 ELSE 0.2 / (n - 2) END
                       AS position_based
            FROM {TOUCHES}
        )
        SELECT channel, model, SUM(credit * first_order) AS new_customers,
               SUM(credit) AS orders, SUM(credit * COALESCE(revenue, 0)) AS revenue
        FROM (UNPIVOT w ON {", ".join(MODELS[:-1])} INTO NAME model VALUE credit)
        GROUP BY channel, model
        """
    )
    totals = ctx.con.execute(
        f"SELECT COUNT(*), SUM(first_order), SUM(COALESCE(revenue, 0)) "
        f"FROM (SELECT ANY_VALUE(first_order) AS first_order, ANY_VALUE(revenue) AS revenue "
        f"      FROM {TOUCHES} GROUP BY journey)"
    ).fetchone()
    effects = _markov_removal_effects(ctx, since)
    if effects:  # the journeys' totals shared out in proportion to the removal effects
        effect = np.array(list(effects.values()))
        markov = pd.DataFrame({"channel": list(effects), "model": "markov"})
        for name, total in zip(("orders", "new_customers", "revenue"), totals, strict=True):
            markov[name] = float(total or 0) * effect / sum(effects.values())
        table = pd.concat([table, markov], ignore_index=True)
    table["model"] = pd.Categorical(table["model"], categories=MODELS, ordered=True)
    table = table.sort_values(["model", "channel"]).reset_index(drop=True)
    table["model"] = table["model"].astype(str)
    table["revenue_share"] = table["revenue"] / table.groupby("model")["revenue"].transform("sum")
    table["order_share"] = table["orders"] / table.groupby("model")["orders"].transform("sum")
    if not ctx.has_monetary:
        table = table.drop(columns=["revenue", "revenue_share"])
    return Attribution(table, int(orders), int(totals[0]))


def _markov_removal_effects(ctx: ReportContext, since: pd.Timestamp) -> dict[str, float]:
    """Share of conversions lost if a channel's sessions led nowhere, by a first-order Markov
    chain over converting journeys and non-converting ones (sessions after the last order)."""
    lookback = int(ctx.config.attribution_lookback_days)
    counts = ctx.query(
        f"""
        WITH last AS (SELECT customer_id, MAX(ordered_at) AS last_at FROM {ORDERS} GROUP BY 1),
        idle AS (
            SELECT s.customer_id || '|idle' AS journey, s.channel, s.started_at, s.session_id,
                   MAX(s.started_at) OVER (PARTITION BY s.customer_id) AS final_at
            FROM {SESSIONS} s LEFT JOIN last l USING (customer_id)
            WHERE s.channel IS NOT NULL AND s.started_at >= $since
              AND (l.last_at IS NULL OR s.started_at > l.last_at)
        ), idle_j AS (
            SELECT journey, channel,
                   ROW_NUMBER() OVER (PARTITION BY journey ORDER BY started_at, session_id) AS pos,
                   COUNT(*) OVER (PARTITION BY journey) AS n, '{NULL}' AS outcome
            FROM idle WHERE started_at >= final_at - INTERVAL {lookback} DAY
        ), j AS (
            SELECT journey, channel, pos, n, '{CONVERSION}' AS outcome FROM {TOUCHES}
            UNION ALL SELECT * FROM idle_j
        ), steps AS (
            SELECT COALESCE(LAG(channel) OVER (PARTITION BY journey ORDER BY pos), '{START}')
                       AS src, channel AS dst
            FROM j
            UNION ALL SELECT channel AS src, outcome AS dst FROM j WHERE pos = n
        )
        SELECT src, dst, COUNT(*) AS n FROM steps GROUP BY 1, 2
        """,
        {"since": since},
    )
    if counts.empty or CONVERSION not in set(counts["dst"]):
        return {}
    channels = sorted(set(counts["src"]) - {START})
    base = _conversion_probability(counts, channels, removed=None)
    if base <= 0:
        return {}
    return {
        c: max(0.0, 1.0 - _conversion_probability(counts, channels, c) / base) for c in channels
    }


def _conversion_probability(
    counts: pd.DataFrame, channels: list[str], removed: str | None
) -> float:
    """P(reaching conversion from start); a removed channel's incoming moves go to null."""
    transient = [START, *channels]
    index = {s: i for i, s in enumerate(transient)}
    q = np.zeros((len(transient), len(transient)))
    r = np.zeros(len(transient))
    for src, dst, n in counts.itertuples(index=False):
        i = index[src]
        if dst == CONVERSION:
            r[i] += n
        elif dst in index and dst != removed:
            q[i, index[dst]] += n
        # NULL, or a move into the removed channel: absorbed without conversion
    totals = (
        counts.groupby("src")["n"].sum().reindex(transient).fillna(0).to_numpy(float, copy=True)
    )
    totals[totals == 0] = 1.0
    q /= totals[:, None]
    r /= totals
    if removed is not None:
        q[index[removed], :] = 0.0
        r[index[removed]] = 0.0
    absorbed = np.linalg.solve(np.eye(len(transient)) - q, r)
    return float(absorbed[index[START]])
