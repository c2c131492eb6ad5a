"""The report's 'Stock to watch' section: far-off items and trending categories, with takeaways."""

from __future__ import annotations

import pandas as pd

from churnrec.insights.report import stock


def _items() -> pd.DataFrame:
    recent = pd.Series({"up": 2.0, "down": 6.0, "steady": 5.0, "tiny": 0.1, "new": 0.0})
    forecast = pd.Series({"up": 5.0, "down": 2.0, "steady": 5.5, "tiny": 0.4, "new": 1.5})
    return stock.compare(recent, forecast, "item_id")


def test_far_items_are_those_at_one_and_a_half_times_or_two_thirds() -> None:
    above, below = stock.far_items(_items())
    assert above["item_id"].tolist() == ["up", "new"]  # by the gap in units; tiny is noise
    assert below["item_id"].tolist() == ["down"]
    text = stock.items_takeaway(above, below)
    assert text.startswith("2 item(s) are forecast at 1.5x or more")
    assert "up (2.0 -> 5.0 units a week)" in text and "down (6.0 -> 2.0" in text


def test_categories_trending_are_named_with_their_change() -> None:
    cats = stock.compare(
        pd.Series({"garden": 10.0, "books": 10.0, "toys": 10.0}),
        pd.Series({"garden": 8.0, "books": 10.5, "toys": 13.0}),
        "category",
    )
    assert stock.categories_takeaway(cats) == (
        "Categories trending up: toys (+30%); trending down: garden (-20%)."
    )
    flat = cats.assign(change=0.0)
    assert "No category's forecast moves 10%" in stock.categories_takeaway(flat)
