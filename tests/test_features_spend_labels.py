"""The CLV target: kept spend per customer in (T, T+H], built in the feature layer."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from churnrec import columns as C
from churnrec.features.db import connect_frames
from churnrec.features.labels import build_spend_labels


def test_spend_counts_kept_lines_inside_the_window_only() -> None:
    rows = [
        ("a", "2024-01-31 23:59", 5.0, False),  # on T: history, not target
        ("a", "2024-02-01 00:00", 10.0, False),  # first instant after T
        ("a", "2024-02-10 12:00", 2.5, False),
        ("a", "2024-02-11 00:00", 99.0, False),  # day T+H+1: outside
        ("b", "2024-02-05 10:00", 7.0, True),  # returned
        ("b", "2024-02-06 10:00", 3.0, False),
        ("c", "2024-02-07 10:00", None, False),  # no amount
        ("d", "2024-03-01 10:00", 1.0, False),  # long after
    ]
    orders = pd.DataFrame(rows, columns=[C.CUSTOMER_ID, C.ORDERED_AT, C.AMOUNT, C.IS_RETURN])
    orders[C.ORDERED_AT] = pd.to_datetime(orders[C.ORDERED_AT])
    spend = build_spend_labels(connect_frames(orders), date(2024, 1, 31), horizon_days=10)
    assert spend.index.tolist() == ["a", "b", "c"]
    assert spend.loc["a"] == 12.5 and spend.loc["b"] == 3.0 and np.isnan(spend.loc["c"])
    assert spend.dtype == "float64"
    with pytest.raises(ValueError, match="horizon_days must be positive"):
        build_spend_labels(connect_frames(orders), date(2024, 1, 31), horizon_days=0)
