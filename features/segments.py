"""RFM scores (1-5, 5 = best) and named RFM segments as SQL expressions; first match wins, and
`features/README.md` states the same rules in words: change both together."""

from __future__ import annotations

from churnrec.columns import Feature

IMPORTANT_VALUE = "important_value"
NEW = "new"
POTENTIAL = "potential"
LOYAL = "loyal"
CHURN_WARNING = "churn_warning"
NEED_ATTENTION = "need_attention"
LIGHT_CHURN = "light_churn"
HIBERNATING = "hibernating"
LOST = "lost"
SEGMENTS = (
    IMPORTANT_VALUE,
    NEW,
    POTENTIAL,
    LOYAL,
    CHURN_WARNING,
    NEED_ATTENTION,
    LIGHT_CHURN,
    HIBERNATING,
    LOST,
)

HIGH = 4  # a score >= HIGH is "high" (top two quintiles)
MID = 3  # recency score 3 is "recent-ish"


def score_sql(column: str, *, descending: bool = False) -> str:
    """1-5 quantile score of `column` (`descending` for recency); ties share one. The 5 is a DOUBLE:
    a `5.0` literal is a DECIMAL, which Spark divides to 6 decimals (a floor could round up)."""
    order = f"{column} DESC" if descending else column
    return (
        f"CAST(LEAST(5, 1 + FLOOR(CAST(5 AS DOUBLE) * (RANK() OVER (ORDER BY {order}) - 1)"
        f" / GREATEST(COUNT(*) OVER () - 1, 1))) AS BIGINT)"
    )


def segment_sql(has_monetary: bool) -> str:
    """CASE expression naming the RFM segment from r/f/m scores and `frequency` ("high value":
    m_score >= 4, or f_score >= 4 without monetary data)."""
    r, f = Feature.R_SCORE, Feature.F_SCORE
    value_hi = f"{Feature.M_SCORE} >= {HIGH}" if has_monetary else f"{Feature.F_SCORE} >= {HIGH}"
    return f"""CASE
        WHEN {r} >= {HIGH} AND {f} >= {HIGH} AND {value_hi} THEN '{IMPORTANT_VALUE}'
        WHEN {r} >= {HIGH} AND frequency = 1 THEN '{NEW}'
        WHEN {r} >= {HIGH} AND {value_hi} THEN '{POTENTIAL}'
        WHEN {r} >= {MID} AND {f} >= {HIGH} THEN '{LOYAL}'
        WHEN {r} < {MID} AND {value_hi} THEN '{CHURN_WARNING}'
        WHEN {r} >= {HIGH} THEN '{NEED_ATTENTION}'
        WHEN {r} = {MID} THEN '{LIGHT_CHURN}'
        WHEN {r} = 2 THEN '{HIBERNATING}'
        ELSE '{LOST}'
    END"""
