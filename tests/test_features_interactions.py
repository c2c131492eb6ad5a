"""Interactions from in-memory order lines: the recommender's training input, one builder."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from churnrec import columns as C
from churnrec.features.db import connect_frames
from churnrec.features.interactions import build_interactions, interactions_of_lines

ROWS = [
    ("c1", "o1", "i1", "2024-01-01", 2.0, False),
    ("c1", "o2", "i1", "2024-01-05", 1.0, False),
    ("c1", "o2", "i1", "2024-01-05", 1.0, False),  # second line of the same order
    ("c1", "o2", "i2", "2024-01-05", None, False),  # missing quantity counts 1
    ("c1", "o3", "i2", "2024-01-09", 5.0, True),  # returned
    ("c2", "o4", None, "2024-01-06", 1.0, False),  # no item: skipped
    ("c2", "o5", "i1", "2024-03-01", 3.0, False),  # after the cut-off of the last test
]
COLUMNS = [C.CUSTOMER_ID, C.ORDER_ID, C.ITEM_ID, C.ORDERED_AT, C.QUANTITY, C.IS_RETURN]


def _lines() -> pd.DataFrame:
    lines = pd.DataFrame(ROWS, columns=COLUMNS)
    lines[C.ORDERED_AT] = pd.to_datetime(lines[C.ORDERED_AT])
    return lines


def test_interactions_of_lines_aggregates_kept_lines() -> None:
    out = interactions_of_lines(_lines())
    expected = pd.DataFrame(
        {
            C.CUSTOMER_ID: ["c1", "c1", "c2"],
            C.ITEM_ID: ["i1", "i2", "i1"],
            C.WEIGHT: [4.0, 1.0, 3.0],
            "n_orders": [2, 1, 1],
            "last_ordered_at": pd.to_datetime(["2024-01-05", "2024-01-05", "2024-03-01"]),
        }
    )
    pd.testing.assert_frame_equal(out, expected, check_dtype=False)
    assert out["n_orders"].dtype == "int64" and out[C.WEIGHT].dtype == "float64"


def test_without_order_ids_an_order_is_a_customer_and_time() -> None:
    lines = _lines().drop(columns=[C.ORDER_ID, C.IS_RETURN])
    out = interactions_of_lines(lines).set_index([C.CUSTOMER_ID, C.ITEM_ID])
    # c1/i1: 2024-01-01 and two lines at 2024-01-05 -> 2 orders; c1/i2: the return counts now.
    assert out.loc[("c1", "i1"), "n_orders"] == 2
    assert out.loc[("c1", "i2"), "n_orders"] == 2
    assert out.loc[("c1", "i2"), C.WEIGHT] == 6.0


def test_lines_and_the_workspace_path_agree_at_a_cut_off() -> None:
    lines = _lines()
    cut = date(2024, 1, 31)
    at_t = build_interactions(connect_frames(lines), cut)
    before = interactions_of_lines(lines[lines[C.ORDERED_AT] < pd.Timestamp("2024-02-01")])
    pd.testing.assert_frame_equal(at_t, before)
    assert "c2" not in set(at_t[C.CUSTOMER_ID])  # c2's only item line is after T


def test_lines_without_a_required_column_are_named() -> None:
    with pytest.raises(ValueError, match="ordered_at"):
        interactions_of_lines(_lines().drop(columns=[C.ORDERED_AT]))
