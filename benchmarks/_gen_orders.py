"""Fast numpy generator of canonical order lines (plus items) for the feature benchmark.

Writes a minimal workspace (data/orders.parquet, data/items.parquet, data/manifest.json) with
about one customer per 10 lines, ~2.5 lines per order, three channels, 3% returns and 50,000
items in 40 categories over two years. Generated in chunks so 50M lines fit in memory.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from churnrec import columns as C

START = np.datetime64("2022-01-01T00:00:00", "s")
SPAN_SECONDS = 730 * 86400
N_ITEMS = 50_000
N_CATEGORIES = 40
CHANNELS = ("web", "app", "store")
CHUNK_LINES = 5_000_000


def _ids(values: np.ndarray, prefix: str) -> pa.Array:
    digits = pc.cast(pa.array(values), pa.string())
    return pc.binary_join_element_wise(prefix, digits, "")


def _chunk(rng: np.random.Generator, n_lines: int, n_customers: int, line0: int, order0: int):
    n_orders = max(1, int(n_lines / 2.5))
    lines_per_order = rng.poisson(1.5, n_orders) + 1
    lines_per_order = lines_per_order[np.cumsum(lines_per_order) <= n_lines]
    n_orders = len(lines_per_order)
    n = int(lines_per_order.sum())
    # skewed customer activity: a few frequent buyers, many one-timers
    order_customer = (n_customers * rng.random(n_orders) ** 1.7).astype(np.int64)
    order_time = START + rng.integers(0, SPAN_SECONDS, n_orders).astype("timedelta64[s]")
    order_channel = rng.choice(len(CHANNELS), n_orders, p=(0.6, 0.3, 0.1))
    idx = np.repeat(np.arange(n_orders), lines_per_order)
    item = (N_ITEMS * rng.random(n) ** 2).astype(np.int64)
    quantity = (rng.poisson(0.4, n) + 1).astype(np.float64)
    amount = np.round(quantity * rng.gamma(2.0, 15.0, n), 2)
    is_return = rng.random(n) < 0.03
    channel = pa.DictionaryArray.from_arrays(
        pa.array(order_channel[idx].astype(np.int32)), pa.array(CHANNELS)
    ).cast(pa.string())
    return pa.table(
        {
            C.LINE_ID: _ids(np.arange(line0, line0 + n), "l"),
            C.CUSTOMER_ID: _ids(order_customer[idx], "c"),
            C.ORDER_ID: _ids(order0 + idx, "o"),
            C.ORDERED_AT: pa.array(order_time[idx].astype("datetime64[us]")),
            C.ITEM_ID: _ids(item, "i"),
            C.QUANTITY: quantity,
            C.AMOUNT: amount,
            C.CHANNEL: channel,
            C.STATUS: pc.if_else(pa.array(is_return), "returned", "completed"),
            C.IS_RETURN: is_return,
        }
    ), n_orders


def generate_workspace(root: Path, n_lines: int, seed: int = 7) -> Path:
    """Write a canonical workspace with `n_lines` order lines under `root`; returns root."""
    rng = np.random.default_rng(seed)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    n_customers = max(1, n_lines // 10)
    writer = None
    written = orders = 0
    while written < n_lines:
        table, n_orders = _chunk(
            rng, min(CHUNK_LINES, n_lines - written), n_customers, written, orders
        )
        if writer is None:
            writer = pq.ParquetWriter(data / "orders.parquet", table.schema)
        writer.write_table(table, row_group_size=1_000_000)
        written += table.num_rows
        orders += n_orders
    writer.close()
    items = pa.table(
        {
            C.ITEM_ID: _ids(np.arange(N_ITEMS), "i"),
            C.CATEGORY: _ids(np.arange(N_ITEMS) % N_CATEGORIES, "cat"),
            C.PRICE: rng.gamma(2.0, 15.0, N_ITEMS),
        }
    )
    pq.write_table(items, data / "items.parquet")
    manifest = {
        "tables": {
            C.ORDERS: {
                "rows": written,
                "sources": ["benchmarks/_gen_orders.py"],
                "has_monetary": True,
                "has_item_ids": True,
                "has_channel": True,
                "has_status": True,
            },
            C.ITEMS: {"rows": N_ITEMS, "sources": ["benchmarks/_gen_orders.py"]},
        },
        "ingested_at": datetime.now().isoformat(timespec="seconds"),
    }
    (data / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return root
