"""Every RFM score, segment and lifecycle rule on hand-picked rows, through the real SQL."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from churnrec.features import lifecycle, segments


def _evaluate(expression: str, rows: pd.DataFrame) -> list:
    con = duckdb.connect()
    con.register("t", rows)
    return [r[0] for r in con.execute(f"SELECT {expression} FROM t ORDER BY k").fetchall()]


def test_scores_are_rank_quintiles_with_shared_ties() -> None:
    # 11 customers: rank r -> 1 + floor(5 (r - 1) / 10), ties share the lowest rank
    values = [1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    rows = pd.DataFrame({"k": range(11), "x": values})
    assert _evaluate(segments.score_sql("x"), rows) == [1, 1, 1, 2, 3, 3, 4, 4, 5, 5, 5]
    # descending (recency): the smallest value gets the top score
    assert _evaluate(segments.score_sql("x", descending=True), rows) == [
        5,
        5,
        5,
        4,
        4,
        3,
        3,
        2,
        2,
        1,
        1,
    ]


def test_single_customer_scores_one() -> None:
    assert _evaluate(segments.score_sql("x"), pd.DataFrame({"k": [0], "x": [5]})) == [1]


SEGMENT_CASES = [
    # r, f, m, frequency, expected
    (5, 5, 5, 9, "important_value"),  # recent, frequent, high spend
    (4, 4, 4, 6, "important_value"),
    (5, 1, 5, 1, "new"),  # one order, recent (spend does not matter)
    (4, 2, 4, 2, "potential"),  # recent, low frequency, high spend
    (4, 5, 2, 8, "loyal"),  # recent, frequent, lower spend
    (3, 4, 5, 5, "loyal"),  # recent-ish and frequent
    (2, 5, 5, 9, "churn_warning"),  # long ago, high spend
    (1, 1, 4, 1, "churn_warning"),
    (4, 2, 2, 2, "need_attention"),  # recent but neither frequent nor high spend
    (3, 2, 5, 2, "light_churn"),  # recent-ish, slipping
    (3, 1, 1, 1, "light_churn"),
    (2, 4, 3, 5, "hibernating"),
    (2, 1, 1, 1, "hibernating"),
    (1, 5, 3, 9, "lost"),
    (1, 1, 1, 1, "lost"),
]


def test_segment_rules_with_monetary() -> None:
    rows = pd.DataFrame(
        [(i, r, f, m, n) for i, (r, f, m, n, _) in enumerate(SEGMENT_CASES)],
        columns=["k", "r_score", "f_score", "m_score", "frequency"],
    )
    assert _evaluate(segments.segment_sql(True), rows) == [c[-1] for c in SEGMENT_CASES]


@pytest.mark.parametrize(
    ("r", "f", "n", "expected"),
    [
        (5, 4, 5, "important_value"),
        (4, 1, 1, "new"),
        (4, 2, 2, "need_attention"),  # potential needs monetary
        (3, 5, 9, "loyal"),
        (2, 4, 5, "churn_warning"),  # long ago, was frequent
        (1, 3, 2, "lost"),
        (3, 3, 2, "light_churn"),
        (2, 3, 2, "hibernating"),
    ],
)
def test_segment_rules_without_monetary(r: int, f: int, n: int, expected: str) -> None:
    rows = pd.DataFrame({"k": [0], "r_score": [r], "f_score": [f], "frequency": [n]})
    assert _evaluate(segments.segment_sql(False), rows) == [expected]


LIFECYCLE_CASES = [
    # recency, tenure, gap_mean (None = one order day), orders_trend, expected
    (181, 181, None, 0.0, "lapsed"),  # one-time buyer silent > 180 days
    (180, 200, None, 0.0, "declining"),  # one-time buyer past the new window
    (91, 200, 30.0, 0.0, "lapsed"),  # > 3 x 30-day cadence
    (31, 60, 5.0, 0.0, "lapsed"),  # 3 x 5 = 15 < 30-day floor < 31
    (30, 60, 5.0, 0.0, "new"),  # floor not passed; tenure <= 90
    (10, 90, None, 1.0, "new"),
    (46, 400, 30.0, 0.0, "declining"),  # overdue: > 1.5 x cadence
    (10, 400, 30.0, -0.5, "declining"),  # on time but buying less than before
    (10, 200, 30.0, 0.5, "growing"),  # buying more, young
    (10, 400, 30.0, 0.5, "mature"),  # buying more but older than a year
    (45, 400, 30.0, 0.0, "mature"),  # exactly 1.5 x cadence is on time
]


def test_lifecycle_rules() -> None:
    rows = pd.DataFrame(
        [(i, *case[:-1]) for i, case in enumerate(LIFECYCLE_CASES)],
        columns=["k", "recency_days", "tenure_days", "gap_mean_days", "orders_trend"],
    )
    assert _evaluate(lifecycle.lifecycle_sql(), rows) == [c[-1] for c in LIFECYCLE_CASES]
