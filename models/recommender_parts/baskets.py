"""Each customer's orders as baskets, oldest first: what repeat-aware ranking reads.

The interactions table (one row per customer and item) loses the order of baskets, and the
"bought in the last 3 orders" / "usual gap for this item" features need it. Orders are kept
as two CSR levels (customer -> orders -> items) of plain numpy arrays, so the lines of a block
of customers come out with a few slices and serving needs no pandas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.models.id_index import IdIndex

SECONDS_PER_DAY = 86_400.0


def to_days(values: pd.Series | np.ndarray) -> np.ndarray:
    """Timestamps as float days since 1970 (what every time feature is computed from)."""
    ts = pd.to_datetime(pd.Series(values)).astype("datetime64[us]")
    return ((ts - pd.Timestamp(0)).dt.total_seconds() / SECONDS_PER_DAY).to_numpy(np.float64)


@dataclass(frozen=True)
class CustomerLines:
    """Lines of a block of customers, flattened: one entry per (order, item)."""

    user: np.ndarray  # position of the customer in the block (0..n_block-1)
    item: np.ndarray  # item index
    orders_ago: np.ndarray  # 0 = the customer's latest order
    days_ago: np.ndarray  # now - order time, in days
    n_orders: np.ndarray  # per customer of the block
    last_order_days_ago: np.ndarray  # per customer (nan without orders)
    first_order_days_ago: np.ndarray  # per customer (nan without orders)


@dataclass(frozen=True)
class BasketLog:
    users: IdIndex
    items: IdIndex
    order_ptr: np.ndarray  # int64, n_users + 1: orders of user u are order_ptr[u]:order_ptr[u+1]
    order_day: np.ndarray  # float64 days since 1970 per order, ascending within a customer
    line_ptr: np.ndarray  # int64, n_orders + 1: items of order o are line_item[ptr[o]:ptr[o+1]]
    line_item: np.ndarray  # int32 item indices

    @classmethod
    def from_lines(
        cls, lines: pd.DataFrame, users: IdIndex | None = None, items: IdIndex | None = None
    ) -> BasketLog:
        """From order lines (customer_id, item_id, ordered_at, optional order_id).

        An order is an `order_id` (else one customer's `ordered_at`); an item counts once per
        order. Lines of customers or items outside given indexes are dropped.
        """
        for col in (C.CUSTOMER_ID, C.ITEM_ID, C.ORDERED_AT):
            if col not in lines.columns:
                raise ValueError(f"order lines lack column {col!r} (have {list(lines.columns)})")
        users = users or IdIndex.from_values(lines[C.CUSTOMER_ID].astype(str))
        items = items or IdIndex.from_values(lines[C.ITEM_ID].astype(str))
        u = users.to_internal(lines[C.CUSTOMER_ID].astype(str), strict=False)
        i = items.to_internal(lines[C.ITEM_ID].astype(str), strict=False)
        day = to_days(lines[C.ORDERED_AT])
        key = (
            lines[C.ORDER_ID].astype(str).to_numpy()
            if C.ORDER_ID in lines.columns
            else lines[C.ORDERED_AT].astype(str).to_numpy()
        )
        ok = (u >= 0) & (i >= 0) & np.isfinite(day)
        frame = pd.DataFrame({"u": u[ok], "i": i[ok], "day": day[ok], "key": key[ok]})
        return cls._build(users, items, frame)

    @classmethod
    def _build(cls, users: IdIndex, items: IdIndex, frame: pd.DataFrame) -> BasketLog:
        orders = (
            frame.groupby(["u", "key"], sort=False)["day"].min().rename("order_day").reset_index()
        )
        orders = orders.sort_values(["u", "order_day", "key"], kind="stable").reset_index(drop=True)
        orders["o"] = np.arange(len(orders))
        merged = frame.merge(orders[["u", "key", "o"]], on=["u", "key"])
        merged = merged.drop_duplicates(["o", "i"]).sort_values(["o", "i"], kind="stable")
        order_ptr = np.zeros(len(users) + 1, dtype=np.int64)
        np.add.at(order_ptr, orders["u"].to_numpy() + 1, 1)
        line_ptr = np.zeros(len(orders) + 1, dtype=np.int64)
        np.add.at(line_ptr, merged["o"].to_numpy() + 1, 1)
        return cls(
            users,
            items,
            np.cumsum(order_ptr),
            orders["order_day"].to_numpy(np.float64),
            np.cumsum(line_ptr),
            merged["i"].to_numpy(np.int32),
        )

    # --- reading -------------------------------------------------------------------------------
    @property
    def n_orders_total(self) -> int:
        return int(self.order_ptr[-1])

    def orders_of(self, user: int) -> list[tuple[float, np.ndarray]]:
        """(day, items) of each order of one customer, oldest first."""
        out = []
        for o in range(int(self.order_ptr[user]), int(self.order_ptr[user + 1])):
            out.append(
                (
                    float(self.order_day[o]),
                    self.line_item[self.line_ptr[o] : self.line_ptr[o + 1]],
                )
            )
        return out

    def block(
        self,
        users: np.ndarray,
        now: float | np.ndarray,
        extra: list[list[tuple[float, np.ndarray]]] | None = None,
    ) -> CustomerLines:
        """Lines of `users` (-1 = no stored history) relative to `now` (days), plus per-customer
        `extra` orders (live events, newer than the stored ones) when given."""
        users = np.asarray(users, dtype=np.int64)
        n = users.size
        now_arr = np.broadcast_to(np.asarray(now, dtype=np.float64), (n,))
        known = users >= 0
        starts = np.where(known, self.order_ptr[np.maximum(users, 0)], 0)
        ends = np.where(known, self.order_ptr[np.maximum(users, 0) + 1], 0)
        per_user = ends - starts
        order_idx = _ranges(starts, ends)
        order_user = np.repeat(np.arange(n), per_user)
        order_days = self.order_day[order_idx]
        if extra is not None and any(extra):
            add_user = np.concatenate(
                [np.full(len(e), b, dtype=np.int64) for b, e in enumerate(extra)]
            )
            add_days = np.array([d for e in extra for d, _ in e], dtype=np.float64)
            add_items = [np.asarray(its, dtype=np.int32) for e in extra for _, its in e]
            add_counts = np.array([len(a) for a in add_items], dtype=np.int64)
        else:
            add_user = np.zeros(0, dtype=np.int64)
            add_days = np.zeros(0)
            add_items = []
            add_counts = np.zeros(0, dtype=np.int64)
        stored_counts = self.line_ptr[order_idx + 1] - self.line_ptr[order_idx]
        stored_lines = self.line_item[
            _ranges(self.line_ptr[order_idx], self.line_ptr[order_idx + 1])
        ]
        all_order_user = np.concatenate([order_user, add_user])
        all_order_day = np.concatenate([order_days, add_days])
        all_counts = np.concatenate([stored_counts, add_counts])
        all_items = np.concatenate([stored_lines, *add_items]) if add_items else stored_lines
        # orders_ago: rank from the newest within each customer
        order = np.lexsort((-all_order_day, all_order_user))
        ranked_user = all_order_user[order]
        first = (
            np.r_[True, ranked_user[1:] != ranked_user[:-1]] if ranked_user.size else ranked_user
        )
        group_start = np.maximum.accumulate(np.where(first, np.arange(ranked_user.size), 0))
        ago = np.empty(ranked_user.size, dtype=np.int64)
        ago[order] = np.arange(ranked_user.size) - group_start
        n_orders = np.bincount(all_order_user, minlength=n).astype(np.int64)
        days_ago_order = now_arr[all_order_user] - all_order_day
        last = np.full(n, np.nan)
        first_seen = np.full(n, np.nan)
        if all_order_user.size:
            last_tmp = np.full(n, np.inf)
            np.minimum.at(last_tmp, all_order_user, days_ago_order)
            first_tmp = np.full(n, -np.inf)
            np.maximum.at(first_tmp, all_order_user, days_ago_order)
            has = n_orders > 0
            last[has], first_seen[has] = last_tmp[has], first_tmp[has]
        return CustomerLines(
            user=np.repeat(all_order_user, all_counts),
            item=all_items.astype(np.int64),
            orders_ago=np.repeat(ago, all_counts),
            days_ago=np.repeat(days_ago_order, all_counts),
            n_orders=n_orders,
            last_order_days_ago=last,
            first_order_days_ago=first_seen,
        )


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, e) for each pair, without a Python loop."""
    lengths = (ends - starts).astype(np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(total, dtype=np.int64)
