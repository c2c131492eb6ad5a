"""The feature definitions as SQL over the canonical views, cut-off values as parameters; plain SQL
(bar the bits listed in features/README.md) so `features.spark` can translate it."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from churnrec import columns as C
from churnrec.columns import Feature
from churnrec.features import lifecycle, segments

WINDOWS = (30, 90, 180)


def cutoff_params(as_of: date) -> dict[str, object]:
    """Bind values for a cut-off: end of history and the starts of the trailing windows."""
    end = datetime.combine(as_of + timedelta(days=1), datetime.min.time())
    params: dict[str, object] = {"as_of": as_of, "end": end}
    for days in WINDOWS:
        params[f"start_{days}"] = end - timedelta(days=days)
    return params


def bind(query: str, params: dict[str, object]) -> dict[str, object]:
    """The subset of `params` whose `$name` markers occur in `query` (DuckDB rejects extras)."""
    return {k: v for k, v in params.items() if re.search(rf"\${k}\b", query)}


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def history_sql() -> str:
    """Order lines before `$end` (T + 1 day) with a customer id, returns kept (return_rate);
    amounts as DECIMAL: exact sums, so totals and m_score ties do not depend on thread order."""
    return f"""SELECT {C.CUSTOMER_ID} AS customer_id, {C.ORDER_ID} AS order_id,
    {C.ORDERED_AT} AS ordered_at, {C.ITEM_ID} AS item_id,
    CAST({C.AMOUNT} AS DECIMAL(18, 4)) AS amount, {C.CHANNEL} AS channel,
    COALESCE({C.IS_RETURN}, FALSE) AS is_return
FROM {C.ORDERS}
WHERE {C.ORDERED_AT} < $end AND {C.CUSTOMER_ID} IS NOT NULL"""


def has_monetary_sql() -> str:
    """A row when any history line up to the cut-off has an amount (stops at the first one)."""
    return (
        f"SELECT 1 FROM {C.ORDERS} WHERE {C.ORDERED_AT} < $end AND {C.AMOUNT} IS NOT NULL LIMIT 1"
    )


def channels_sql(lines: str | None = None) -> str:
    """Distinct non-null channels of non-returned history lines (one column each); `lines`: a
    table of `history_sql()` rows to read instead of the orders view (then no `$end`)."""
    if lines:
        return (
            f"SELECT DISTINCT channel FROM {lines} "
            f"WHERE channel IS NOT NULL AND NOT is_return ORDER BY 1"
        )
    return (
        f"SELECT DISTINCT {C.CHANNEL} FROM {C.ORDERS} WHERE {C.ORDERED_AT} < $end "
        f"AND {C.CHANNEL} IS NOT NULL AND NOT COALESCE({C.IS_RETURN}, FALSE) "
        f"AND {C.CUSTOMER_ID} IS NOT NULL ORDER BY 1"
    )


def snapshot_sql(
    channel_columns: dict[str, list[str]],
    *,
    has_monetary: bool,
    with_customer_attributes: bool,
    lines: str | None = None,
) -> str:
    """The customer snapshot query; `channel_columns`: output column -> raw channel values.
    `lines`: a table of `history_sql()` rows at the same cut-off, read directly (a CTE renaming
    it would be copied again); None builds them in a CTE (same result, slower)."""
    hist = lines or "hist"
    hist_cte = "" if lines else f"hist AS (\n{history_sql()}\n),"
    channel_sums = "".join(
        f",\n        CAST(SUM(CASE WHEN NOT is_return AND channel IN "
        f"({', '.join(literal(v) for v in values)}) THEN 1 ELSE 0 END) AS BIGINT) AS n_{name}"
        for name, values in channel_columns.items()
    )
    channel_totals = "".join(
        f", CAST(SUM(n_{name}) AS BIGINT) AS n_{name}" for name in channel_columns
    )
    window_counts = "".join(
        f",\n        CAST(SUM(CASE WHEN ordered_at >= $start_{d} THEN 1 ELSE 0 END) AS BIGINT)"
        f" AS orders_{d}d"
        f",\n        CAST(SUM(CASE WHEN ordered_at >= $start_{d} THEN COALESCE(amount, 0) ELSE 0 END)"
        f" AS DOUBLE) AS spend_{d}d"
        for d in WINDOWS
    )
    # Lines -> orders once (an all-returns order has a NULL time: it neither gets nor gives a
    # gap, and still counts in return_rate), so customers aggregate the much smaller orders. A
    # gap is a step to a later day; its statistics are exact integer sums (mean = s1 / n,
    # variance = (n * s2 - s1^2) / n^2). Categories are numbered (DENSE_RANK over the small
    # items table) so the large customer x category grouping hashes an integer.
    gap = "date_diff('day', prev_d, d)"
    is_gap = "d > prev_d"
    ctes = f"""WITH {hist_cte}
ords AS (
    SELECT customer_id, order_id,
        MIN(CASE WHEN NOT is_return THEN ordered_at END) AS ordered_at,
        SUM(CASE WHEN NOT is_return THEN amount END) AS amount,
        COUNT(*) AS n_lines,
        CAST(SUM(CASE WHEN is_return THEN 1 ELSE 0 END) AS BIGINT) AS n_returned,
        CAST(SUM(CASE WHEN is_return THEN 0 ELSE 1 END) AS BIGINT) AS n_kept{channel_sums}
    FROM {hist} GROUP BY customer_id, order_id
),
ordgaps AS (
    SELECT ords.*, CAST(ordered_at AS DATE) AS d,
        LAG(CAST(ordered_at AS DATE)) OVER (PARTITION BY customer_id ORDER BY ordered_at)
            AS prev_d
    FROM ords
),
cust AS (
    SELECT customer_id, MIN(ordered_at) AS first_order_at, MAX(ordered_at) AS last_order_at,
        COUNT(ordered_at) AS frequency,
        CAST(COALESCE(SUM(amount), 0) AS DOUBLE) AS monetary_total,
        CAST(SUM(n_lines) AS BIGINT) AS n_lines, CAST(SUM(n_returned) AS BIGINT) AS n_returned,
        CAST(SUM(n_kept) AS BIGINT) AS n_kept{channel_totals}{window_counts},
        COUNT(CASE WHEN {is_gap} THEN 1 END) AS gap_n,
        CAST(SUM(CASE WHEN {is_gap} THEN {gap} END) AS BIGINT) AS gap_s1,
        CAST(SUM(CASE WHEN {is_gap} THEN {gap} * {gap} END) AS BIGINT) AS gap_s2,
        MAX(CASE WHEN {is_gap} THEN prev_d END) AS gap_prev_d,
        MAX(CASE WHEN {is_gap} THEN d END) AS gap_last_d
    FROM ordgaps GROUP BY customer_id
    HAVING COUNT(ordered_at) > 0
),
itemcat AS (
    SELECT item_id, CAST(DENSE_RANK() OVER (ORDER BY category) AS INTEGER) AS category
    FROM (
        SELECT {C.ITEM_ID} AS item_id, MIN({C.CATEGORY}) AS category
        FROM {C.ITEMS} WHERE {C.CATEGORY} IS NOT NULL GROUP BY {C.ITEM_ID}
    ) named
),
ci AS (
    SELECT customer_id, item_id, CAST(COUNT(*) AS INTEGER) AS n
    FROM {hist} WHERE NOT is_return AND item_id IS NOT NULL
    GROUP BY customer_id, item_id
),
cc AS (
    SELECT ci.customer_id, itemcat.category, COUNT(*) AS n_items, SUM(ci.n) AS n
    FROM ci LEFT JOIN itemcat ON itemcat.item_id = ci.item_id
    GROUP BY ci.customer_id, itemcat.category
),
itemstats AS (
    SELECT customer_id, SUM(n_items) AS distinct_items,
        COUNT(category) AS distinct_categories,
        CAST(MAX(CASE WHEN category IS NOT NULL THEN n END) AS DOUBLE)
            / SUM(CASE WHEN category IS NOT NULL THEN n END) AS top_category_share
    FROM cc GROUP BY customer_id
),
ev AS (
    SELECT {C.CUSTOMER_ID} AS customer_id, {C.EVENT_TYPE} AS event_type,
        {C.OCCURRED_AT} AS occurred_at,
        COALESCE({C.SESSION_ID}, {C.CUSTOMER_ID} || '|'
                 || CAST(CAST({C.OCCURRED_AT} AS DATE) AS VARCHAR)) AS sid
    FROM {C.EVENTS} WHERE {C.OCCURRED_AT} < $end AND {C.CUSTOMER_ID} IS NOT NULL
),
sess AS (
    SELECT customer_id, sid,
        CAST(SUM(CASE WHEN event_type = {literal(C.EVENT_VIEW)} THEN 1 ELSE 0 END) AS BIGINT)
            AS views,
        CAST(SUM(CASE WHEN event_type = {literal(C.EVENT_ADD_TO_CART)} THEN 1 ELSE 0 END)
            AS BIGINT) AS cart_adds,
        MAX(CASE WHEN event_type = {literal(C.EVENT_PURCHASE)} THEN 1 ELSE 0 END) AS bought,
        MAX(occurred_at) AS last_at
    FROM ev GROUP BY customer_id, sid
),
evstats AS (
    SELECT customer_id, COUNT(*) AS sessions,
        CAST(SUM(views) AS BIGINT) AS views, CAST(SUM(cart_adds) AS BIGINT) AS cart_adds,
        CAST(SUM(CASE WHEN cart_adds > 0 THEN 1 ELSE 0 END) AS BIGINT) AS cart_sessions,
        CAST(SUM(CASE WHEN cart_adds > 0 AND bought = 0 THEN 1 ELSE 0 END) AS BIGINT) AS abandoned,
        MAX(last_at) AS last_visit_at
    FROM sess GROUP BY customer_id
),
attrs AS (
    SELECT {C.CUSTOMER_ID} AS customer_id, MIN({C.REGION}) AS region, MIN({C.AGE}) AS age,
        MIN({C.GENDER}) AS gender, MIN({C.ACQUISITION_CHANNEL}) AS acquisition_channel,
        MIN(CASE WHEN {C.MARKETING_CONSENT} THEN 1
                 WHEN NOT {C.MARKETING_CONSENT} THEN 0 END) AS consent
    FROM {C.CUSTOMERS} GROUP BY {C.CUSTOMER_ID}
)"""
    trend = "CASE WHEN {a} + {b} > 0 THEN CAST({a} - {b} AS DOUBLE) / ({a} + {b}) ELSE 0.0 END"
    orders_prev = "(c.orders_180d - c.orders_90d)"
    spend_prev = "(c.spend_180d - c.spend_90d)"
    base_cols = [
        "c.customer_id",
        "CAST($as_of AS DATE) AS as_of",
        "c.first_order_at",
        "c.last_order_at",
        "date_diff('day', CAST(c.last_order_at AS DATE), CAST($as_of AS DATE)) AS recency_days",
        "c.frequency",
    ]
    if has_monetary:
        base_cols += [
            "c.monetary_total",
            "c.monetary_total / c.frequency AS monetary_avg",
        ]
    base_cols += [
        "date_diff('day', CAST(c.first_order_at AS DATE), CAST($as_of AS DATE)) AS tenure_days",
        "c.gap_n AS repeat_purchase_days",
        "CAST(c.gap_s1 AS DOUBLE) / c.gap_n AS gap_mean_days",
        (
            "SQRT(CAST(c.gap_n * c.gap_s2 - c.gap_s1 * c.gap_s1 AS DOUBLE)"
            " / (CAST(c.gap_n AS DOUBLE) * c.gap_n)) AS gap_std_days"
        ),
        "CAST(date_diff('day', c.gap_prev_d, c.gap_last_d) AS DOUBLE) AS gap_last_days",
    ]
    base_cols += [f"c.orders_{d}d" for d in WINDOWS]
    if has_monetary:
        base_cols += [f"c.spend_{d}d" for d in WINDOWS]
    base_cols.append(trend.format(a="c.orders_90d", b=orders_prev) + " AS orders_trend")
    if has_monetary:
        base_cols.append(trend.format(a="c.spend_90d", b=spend_prev) + " AS spend_trend")
    base_cols += [
        "CAST(COALESCE(i.distinct_items, 0) AS BIGINT) AS distinct_items",
        "COALESCE(i.distinct_categories, 0) AS distinct_categories",
        "i.top_category_share",
        "CAST(c.n_returned AS DOUBLE) / c.n_lines AS return_rate",
    ]
    base_cols += [f"CAST(c.n_{name} AS DOUBLE) / c.n_kept AS {name}" for name in channel_columns]
    base_cols += [
        "COALESCE(e.sessions, 0) AS sessions",
        "COALESCE(e.views, 0) AS views",
        "COALESCE(e.cart_adds, 0) AS cart_adds",
        (
            "CASE WHEN e.cart_sessions > 0 THEN CAST(e.abandoned AS DOUBLE) / e.cart_sessions"
            " END AS cart_abandonment_rate"
        ),
        (
            "date_diff('day', CAST(e.last_visit_at AS DATE), CAST($as_of AS DATE))"
            " AS days_since_last_visit"
        ),
        "CAST(a.consent AS BOOLEAN) AS marketing_consent",  # null = never given = no for marketing
    ]
    if with_customer_attributes:
        base_cols += ["a.region", "a.age", "a.gender", "a.acquisition_channel"]
    base = f"""
base AS (
    SELECT {", ".join(base_cols)}
    FROM cust c
    LEFT JOIN itemstats i ON i.customer_id = c.customer_id
    LEFT JOIN evstats e ON e.customer_id = c.customer_id
    LEFT JOIN attrs a ON a.customer_id = c.customer_id
)"""
    # Scores rank a narrow table (the window sorts carry 4 columns, not the whole snapshot).
    scores = {
        Feature.R_SCORE: segments.score_sql(Feature.RECENCY_DAYS, descending=True),
        Feature.F_SCORE: segments.score_sql(Feature.FREQUENCY),
    }
    if has_monetary:
        scores[Feature.M_SCORE] = segments.score_sql(Feature.MONETARY_TOTAL)
    scored = f"""
rfm AS (
    SELECT customer_id, {", ".join(f"{expr} AS {name}" for name, expr in scores.items())}
    FROM (SELECT customer_id, recency_days, frequency{", monetary_total" if has_monetary else ""}
          FROM base) narrow
),
scored AS (
    SELECT base.*, {", ".join("rfm." + name for name in scores)}
    FROM base JOIN rfm ON rfm.customer_id = base.customer_id
)"""
    return f"""{ctes},{base},{scored}
SELECT scored.*,
    {segments.segment_sql(has_monetary)} AS {C.RFM_SEGMENT},
    {lifecycle.lifecycle_sql()} AS {C.LIFECYCLE_STAGE}
FROM scored
ORDER BY customer_id"""


def snapshot_customers_sql() -> str:
    """Who the snapshot at T has a row for: a non-returned order before `$end` (T + 1 day)."""
    return f"""SELECT DISTINCT {C.CUSTOMER_ID} AS customer_id FROM {C.ORDERS}
    WHERE {C.ORDERED_AT} < $end AND NOT COALESCE({C.IS_RETURN}, FALSE)
      AND {C.CUSTOMER_ID} IS NOT NULL"""


def labels_sql() -> str:
    """Labels for the customers of the snapshot at T (non-returned order on or before T);
    `$horizon_end` and `$observed_end` are the days after T+H and `observed_until`."""
    return f"""WITH cust AS (
    {snapshot_customers_sql()}
),
nxt AS (
    SELECT {C.CUSTOMER_ID} AS customer_id, MIN({C.ORDERED_AT}) AS next_at FROM {C.ORDERS}
    WHERE {C.ORDERED_AT} >= $end AND {C.ORDERED_AT} < $observed_end
      AND NOT COALESCE({C.IS_RETURN}, FALSE)
    GROUP BY {C.CUSTOMER_ID}
)
SELECT c.customer_id, CAST($as_of AS DATE) AS {C.AS_OF},
    CAST($horizon_days AS INTEGER) AS horizon_days,
    CASE WHEN n.next_at IS NOT NULL AND n.next_at < $horizon_end THEN FALSE ELSE TRUE END
        AS {C.CHURNED},
    date_diff('day', CAST($as_of AS DATE),
              COALESCE(CAST(n.next_at AS DATE), CAST($observed_until AS DATE)))
        AS {C.DAYS_TO_NEXT_ORDER},
    n.next_at IS NULL AS {C.CENSORED}
FROM cust c LEFT JOIN nxt n ON n.customer_id = c.customer_id
ORDER BY c.customer_id"""


def interactions_sql() -> str:
    """Customer x item weights over non-returned lines with an item id, up to T ($end)."""
    return f"""SELECT {C.CUSTOMER_ID} AS customer_id, {C.ITEM_ID} AS item_id,
    SUM(COALESCE({C.QUANTITY}, 1.0)) AS {C.WEIGHT},
    COUNT(DISTINCT {C.ORDER_ID}) AS n_orders,
    MAX({C.ORDERED_AT}) AS last_ordered_at
FROM {C.ORDERS}
WHERE {C.ORDERED_AT} < $end AND NOT COALESCE({C.IS_RETURN}, FALSE)
  AND {C.ITEM_ID} IS NOT NULL AND {C.CUSTOMER_ID} IS NOT NULL
GROUP BY {C.CUSTOMER_ID}, {C.ITEM_ID}
ORDER BY customer_id, item_id"""
