"""The report on a clickstream as it comes (views, cart adds, purchases, no checkout step): the
funnel runs over the steps present, never divides by zero, and says which step it could not
find (it ended in a traceback, or showed `inf%` and "100% lost at checkout")."""

from __future__ import annotations

import math
from datetime import date

import pandas as pd

from churnrec import columns as C
from churnrec.synthetic import ShopConfig
from tests.generated_shop import ingested_shop


def _shop_without_checkout(tmp_path, rename: dict[str, str] | None = None):
    shop = ShopConfig(
        n_customers=300, n_items=40, seed=5, start=date(2024, 1, 1), end=date(2024, 6, 30)
    )
    ws = ingested_shop(tmp_path, shop)
    events = pd.read_parquet(ws.table_path(C.EVENTS))
    events = events[events[C.EVENT_TYPE] != C.EVENT_CHECKOUT]
    events[C.EVENT_TYPE] = events[C.EVENT_TYPE].replace(rename or {})
    events.to_parquet(ws.table_path(C.EVENTS), index=False)
    return ws


def test_pv_cart_buy_names_are_funnel_steps(tmp_path) -> None:
    from churnrec.insights.report import funnel
    from churnrec.insights.report.config import ReportConfig
    from churnrec.insights.report.context import open_context

    short = {C.EVENT_VIEW: "pv", C.EVENT_ADD_TO_CART: "cart", C.EVENT_PURCHASE: "buy"}
    ws = _shop_without_checkout(tmp_path, short)
    table = funnel.funnel_table(open_context(ws, None, ReportConfig()))
    assert list(table["step"]) == [C.EVENT_VIEW, C.EVENT_ADD_TO_CART, C.EVENT_PURCHASE]
    assert table["sessions"].min() > 0


def test_funnel_without_a_checkout_step(tmp_path) -> None:
    from churnrec.insights.report import funnel
    from churnrec.insights.report.config import ReportConfig
    from churnrec.insights.report.context import open_context

    shop = ShopConfig(
        n_customers=300, n_items=40, seed=5, start=date(2024, 1, 1), end=date(2024, 6, 30)
    )
    ws = ingested_shop(tmp_path, shop)
    events = pd.read_parquet(ws.table_path(C.EVENTS))
    events[events[C.EVENT_TYPE] != C.EVENT_CHECKOUT].to_parquet(
        ws.table_path(C.EVENTS), index=False
    )

    ctx = open_context(ws, None, ReportConfig())
    table = funnel.funnel_table(ctx)
    assert list(table["step"]) == [C.EVENT_VIEW, C.EVENT_ADD_TO_CART, C.EVENT_PURCHASE]
    assert table.attrs["missing_steps"] == [C.EVENT_CHECKOUT]
    for column in ("step_conversion", "in_order_step_conversion", "share_of_sessions"):
        assert all(math.isnan(v) or 0 <= v <= 1 for v in table[column]), column
    assert table["in_order_sessions"].iloc[-1] > 0  # a purchase no longer needs a checkout
    section = funnel.build(ctx)
    assert any("checkout" in line for line in section.missing)
    takeaway = funnel.funnel_takeaway(table)
    assert "inf" not in takeaway and "No checkout step recorded" in takeaway
