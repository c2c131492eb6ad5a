"""`generate_shop`: config in, four shop-export tables out, the same every time for a seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.progress import stage
from churnrec.synthetic.campaigns import simulate_campaigns
from churnrec.synthetic.catalogue import build_catalogue
from churnrec.synthetic.config import ShopConfig
from churnrec.synthetic.customers import build_customers
from churnrec.synthetic.events import simulate_events
from churnrec.synthetic.orders import simulate_orders
from churnrec.synthetic.seasonality import Season


@dataclass(frozen=True)
class ShopTables:
    """The tables a shop would export; `events` is None when events were not generated."""

    orders: pd.DataFrame
    customers: pd.DataFrame
    items: pd.DataFrame
    events: pd.DataFrame | None
    campaigns: pd.DataFrame | None = None  # a past randomised campaign (synthetic/campaigns.py)

    def as_dict(self) -> dict[str, pd.DataFrame]:
        """Table kind -> frame, for the tables that exist."""
        tables = {C.ORDERS: self.orders, C.CUSTOMERS: self.customers, C.ITEMS: self.items}
        if self.events is not None:
            tables[C.EVENTS] = self.events
        return tables


def generate_shop(config: ShopConfig | None = None) -> ShopTables:
    """Simulate a shop. Each stage draws from its own seeded stream, so switching events off
    leaves orders, customers and items unchanged."""
    config = config or ShopConfig()
    rng_items, rng_customers, rng_orders, rng_events = (
        np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(4)
    )
    with stage("catalogue") as s:
        catalogue = build_catalogue(config, rng_items)
        s.note(f"{catalogue.n_items:,} items in {catalogue.n_categories} categories")
    with stage("customers") as s:
        panel = build_customers(config, catalogue, rng_customers)
        s.note(f"{panel.n:,} customers")
    with stage("orders") as s:
        season = Season.for_period(config.start, config.horizon_days)
        orders = simulate_orders(config, panel, catalogue, season, rng_orders)
        s.note(f"{len(orders.order_day):,} orders, {len(orders.frame):,} lines")
    events = None
    if config.with_events:
        with stage("events") as s:
            events = simulate_events(config, panel, catalogue, orders, rng_events)
            s.note(f"{len(events):,} events")
    # Own seed stream: the campaign never changes the other tables.
    campaigns = simulate_campaigns(
        config, orders.frame, panel.frame, np.random.default_rng([config.seed, 13])
    )
    return ShopTables(
        orders=orders.frame,
        customers=panel.frame,
        items=catalogue.frame(),
        events=events,
        campaigns=campaigns,
    )
