"""A grocery-style shop export for `bench_grocery_train.py`: many big baskets per shopper.

Daily orders over one year from a fixed panel of shoppers (all sign up in the first quarter),
each ordering every few days to every few weeks (a gamma-distributed personal gap; some order
almost daily), with 10 or more lines per basket drawn mostly from their own staples. A share
of shoppers lapse: they stop ordering at a random day and never come back. Shopper frequency
counts (BTYD `frequency`) reach the hundreds, which is what made the Pareto/NBD fits slow.
The files are plain CSVs in the shape a shop exports (orders, customers, items).
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

START = datetime(2025, 1, 1)
DAYS = 365
N_ITEMS = 2_000
N_CATEGORIES = 30


def write_grocery_shop(
    out: Path,
    *,
    shoppers: int = 600,
    target_lines: int = 150_000,
    lapse_share: float = 0.35,
    seed: int = 7,
) -> dict[str, Path]:
    """Write orders.csv, customers.csv and items.csv under `out`; returns their paths.

    The mean gap between a shopper's orders is set so the export has about `target_lines`
    order lines (10 + Poisson(2) lines per basket).
    """
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    price = np.round(rng.gamma(2.0, 2.0, N_ITEMS) + 0.5, 2)
    category = rng.integers(0, N_CATEGORIES, N_ITEMS)
    popularity = rng.zipf(1.3, N_ITEMS).astype(float)
    popularity /= popularity.sum()

    first = rng.integers(0, 90, shoppers)  # first order day
    lapses = rng.random(shoppers) < lapse_share
    last = np.where(lapses, rng.integers(first + 30, DAYS), DAYS)
    active_days = (last - first).sum()
    mean_lines = 12.0
    # 0.94: the one-day floor on the gaps below costs about 6% of the orders
    mean_gap = 0.94 * active_days * mean_lines / target_lines
    # personal mean gap: gamma with shape 2 and scale `mean_gap` (then E[1 / gap] is
    # 1 / mean_gap, so orders per active day average out to the target), at least one day
    gaps = np.maximum(rng.gamma(2.0, mean_gap, shoppers), 1.0)

    orders_file, customers_file, items_file = (
        out / "orders.csv",
        out / "customers.csv",
        out / "items.csv",
    )
    with items_file.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "category", "price"])
        for i in range(N_ITEMS):
            w.writerow([f"sku{i:05d}", f"cat{category[i]:02d}", f"{price[i]:.2f}"])
    with customers_file.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer_id", "signed_up_at"])
        for c in range(shoppers):
            w.writerow([f"shopper{c:04d}", (START + timedelta(days=int(first[c]))).date()])
    order_no = 0
    with orders_file.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["order_id", "customer_id", "ordered_at", "item_id", "quantity", "amount"])
        for c in range(shoppers):
            staples = rng.choice(N_ITEMS, size=40, replace=False, p=popularity)
            day = float(first[c])
            while day < last[c]:
                order_no += 1
                n_lines = 10 + rng.poisson(2.0)
                n_staple = min(int(n_lines * 0.7), len(staples))
                basket = np.concatenate(
                    [
                        rng.choice(staples, size=n_staple, replace=False),
                        rng.choice(N_ITEMS, size=n_lines - n_staple, p=popularity),
                    ]
                )
                at = START + timedelta(days=int(day), minutes=int(rng.integers(7 * 60, 22 * 60)))
                for item in basket:
                    qty = 1 + rng.poisson(0.5)
                    w.writerow(
                        [
                            f"o{order_no:07d}",
                            f"shopper{c:04d}",
                            at.isoformat(sep=" "),
                            f"sku{item:05d}",
                            qty,
                            f"{qty * price[item]:.2f}",
                        ]
                    )
                day += max(1.0, rng.exponential(gaps[c]))
    return {"orders": orders_file, "customers": customers_file, "items": items_file}
