"""The BTYD summary and holdout purchase counts of the feature layer, on hand-made orders."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from churnrec.columns import CUSTOMER_ID, IS_RETURN, ORDER_ID, ORDERED_AT
from churnrec.features.btyd import (
    btyd_summary_from_snapshot,
    build_btyd_summary,
    build_holdout_purchases,
)
from churnrec.features.db import connect_frames

TOY = [
    ("a", "2024-01-01 09:00"),
    ("a", "2024-01-01 17:30"),  # same day: one purchase
    ("a", "2024-01-08 12:00"),
    ("a", "2024-01-22 08:00"),
    ("a", "2024-02-01 10:00"),  # after as_of
    ("b", "2024-01-29 23:59"),  # on as_of: first purchase
    ("c", "2024-01-30 00:00"),  # after as_of only
    ("d", "2024-01-15 10:00"),
    ("d", "2024-01-16 10:00"),  # returned in the first test
]


def _orders(rows: list[tuple[str, str]], returns: list[bool] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[CUSTOMER_ID, ORDERED_AT])
    frame[ORDERED_AT] = pd.to_datetime(frame[ORDERED_AT])
    if returns is not None:
        frame[IS_RETURN] = returns
    return frame


def test_summary_merges_same_day_ignores_returns_and_the_future() -> None:
    con = connect_frames(_orders(TOY, returns=[False] * 8 + [True]))
    got = build_btyd_summary(con, date(2024, 1, 29))
    expected = pd.DataFrame(
        {"frequency": [2, 0, 0], "recency": [3.0, 0.0, 0.0], "T": [4.0, 0.0, 2.0]},
        index=pd.Index(["a", "b", "d"], name=CUSTOMER_ID),
    )
    pd.testing.assert_frame_equal(got, expected, check_index_type=False)


def test_summary_in_days_counts_an_order_across_midnight_once() -> None:
    orders = _orders(TOY)  # no is_return column: d's second day counts
    orders[ORDER_ID] = [f"o{i}" for i in range(len(orders))]
    # One more order of b whose lines span midnight: its day is that of its first line.
    extra = pd.DataFrame(
        {
            CUSTOMER_ID: ["b", "b"],
            ORDERED_AT: pd.to_datetime(["2024-01-10 23:50", "2024-01-11 00:10"]),
            ORDER_ID: ["late", "late"],
        }
    )
    con = connect_frames(pd.concat([orders, extra], ignore_index=True))
    got = build_btyd_summary(con, date(2024, 1, 29), time_unit_days=1.0)
    assert got.loc["a"].tolist() == [2.0, 21.0, 28.0]
    assert got.loc["b"].tolist() == [1.0, 19.0, 19.0]  # Jan 10 and Jan 29
    assert got.loc["d"].tolist() == [1.0, 1.0, 14.0]


def test_holdout_counts_purchase_days_in_the_window() -> None:
    con = connect_frames(_orders(TOY))
    got = build_holdout_purchases(con, date(2024, 1, 22), date(2024, 1, 31))
    assert got.to_dict() == {"b": 1, "c": 1}  # a's Jan 22 is on `after`, Feb 1 after `until`
    assert got.name == "holdout_purchases"


def test_summary_plus_holdout_is_the_summary_at_the_end_of_the_holdout() -> None:
    rng = np.random.default_rng(7)
    n = 400
    orders = pd.DataFrame(
        {
            CUSTOMER_ID: rng.integers(0, 40, n).astype(str),
            ORDER_ID: rng.integers(0, 250, n).astype(str),
            ORDERED_AT: pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 120 * 24, n), unit="h"),
            IS_RETURN: rng.random(n) < 0.1,
        }
    )
    con = connect_frames(orders)
    after, until = date(2024, 2, 20), date(2024, 4, 1)
    before = build_btyd_summary(con, after)["frequency"]
    later = build_btyd_summary(con, until)["frequency"]
    holdout = build_holdout_purchases(con, after, until).reindex(before.index, fill_value=0)
    pd.testing.assert_series_equal(
        later.loc[before.index], before + holdout, check_names=False, check_index_type=False
    )
    assert holdout.sum() > 0


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="no kept order on or before as_of=2023-12-31"):
        build_btyd_summary(connect_frames(_orders(TOY)), date(2023, 12, 31))
    with pytest.raises(ValueError, match="ordered_at"):
        connect_frames(_orders(TOY).drop(columns=[ORDERED_AT]))
    with pytest.raises(ValueError, match="ends \\(2024-01-01\\) before it starts"):
        build_holdout_purchases(connect_frames(_orders(TOY)), date(2024, 1, 2), date(2024, 1, 1))
    with pytest.raises(ValueError, match="tenure_days"):
        btyd_summary_from_snapshot(pd.DataFrame({CUSTOMER_ID: ["a"]}))
    with pytest.raises(ValueError, match="time_unit_days must be positive"):
        btyd_summary_from_snapshot(pd.DataFrame(), time_unit_days=0)
