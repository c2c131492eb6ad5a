"""A small generated shop with one cold item, trained for demand: shared by the demand tests."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from churnrec import columns as C
from churnrec.synthetic import ShopConfig, generate_shop, write_shop
from churnrec.workspace import Workspace

SHOP = ShopConfig(
    n_customers=900,
    n_items=30,
    n_categories=3,
    seed=5,
    with_events=False,
    start=date(2024, 1, 1),
    end=date(2025, 6, 29),  # a Sunday: the last week is whole
)
COLD_ITEM = "NEW-ITEM"  # first sold three weeks before the end: under 8 weeks of sales
NEVER_SOLD = "never-sold-item"


def demand_shop(root: Path) -> Workspace:
    """Generate and ingest the shop with `COLD_ITEM` added (in the first item's category)."""
    from churnrec.ingest import ingest

    shop = generate_shop(SHOP)
    first = shop.orders.iloc[-1]
    cold = pd.DataFrame(
        {
            **{col: [first[col]] * 3 for col in shop.orders.columns},
            C.ORDER_ID: ["cold-1", "cold-2", "cold-3"],
            C.ITEM_ID: [COLD_ITEM] * 3,
            C.ORDERED_AT: pd.to_datetime(
                ["2025-06-11 10:00", "2025-06-18 10:00", "2025-06-25 10:00"]
            ),
            C.QUANTITY: [2, 3, 2],
        }
    )
    category = shop.items[C.CATEGORY].iloc[0]
    items = pd.concat(
        [shop.items, pd.DataFrame({C.ITEM_ID: [COLD_ITEM], C.CATEGORY: [category]})],
        ignore_index=True,
    )
    shop = shop.__class__(
        **{
            **vars(shop),
            "orders": pd.concat([shop.orders, cold], ignore_index=True),
            "items": items,
        }
    )
    files = write_shop(shop, root / "shop", "csv")
    ws = Workspace.at(root)
    ingest(ws, files["orders"], customers=files["customers"], items=files["items"])
    return ws


def train_small_demand(ws: Workspace, **config):
    """The demand job with a small LightGBM (the rest as configured by default)."""
    from churnrec.training.demand import DemandTrainConfig, train_demand

    return train_demand(ws, DemandTrainConfig(**{"n_estimators": 60, **config}))
