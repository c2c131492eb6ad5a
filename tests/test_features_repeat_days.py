"""`repeat_purchase_days`: distinct purchase days minus one, the BTYD frequency."""

from __future__ import annotations

from datetime import date

import pandas as pd

from churnrec.features.db import connect_frames
from churnrec.features.snapshot import build_customer_snapshot


def test_repeat_purchase_days_counts_distinct_days_not_orders() -> None:
    orders = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "c"],
            "order_id": ["o1", "o2", "o3", "o4", "o5", "o6"],
            # a: two orders on Jan 1, one on Jan 5, one after the cut-off; b: once; c: a return only
            "ordered_at": pd.to_datetime(
                [
                    "2024-01-01 09:00",
                    "2024-01-01 18:00",
                    "2024-01-05 00:00",
                    "2024-02-01 00:00",
                    "2024-01-03 00:00",
                    "2024-01-04 00:00",
                ]
            ),
            "item_id": ["i"] * 6,
            "quantity": [1.0] * 6,
            "amount": [10.0] * 6,
            "is_return": [False, False, False, False, False, True],
        }
    )
    snap = build_customer_snapshot(connect_frames(orders), date(2024, 1, 10)).set_index(
        "customer_id"
    )
    assert snap.loc["a", "frequency"] == 3
    assert snap.loc["a", "repeat_purchase_days"] == 1
    assert snap.loc["b", "repeat_purchase_days"] == 0
    assert "c" not in snap.index
