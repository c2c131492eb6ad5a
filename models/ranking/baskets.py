"""Each customer's orders as baskets, oldest first (features like "in the last 3 orders" need
that order), as two CSR levels customer -> orders -> items, so serving needs no pandas; guest
baskets are a third, customer-less CSR that only item statistics read."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    # guest baskets: items of guest basket g are guest_item[guest_ptr[g]:guest_ptr[g+1]]
    guest_ptr: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    guest_item: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))

    @classmethod
    def from_lines(
        cls,
        lines: pd.DataFrame,
        users: IdIndex | None = None,
        items: IdIndex | None = None,
        guests: pd.DataFrame | None = None,
    ) -> BasketLog:
        """From order lines (customer_id, item_id, ordered_at, optional order_id) and guest
        lines (no customer_id). An order is an `order_id`, else a customer's `ordered_at`; an
        item counts once per order. Lines outside given indexes are dropped."""
        enc = EncodedLines.from_lines(lines, users, items, guests)
        g = enc.guest
        return cls._build(
            enc.users,
            enc.items,
            enc.u,
            enc.i,
            enc.day,
            enc.code,
            enc.n_codes,
            None if g is None else g.i,
            None if g is None else g.code,
        )

    @classmethod
    def _build(
        cls,
        users: IdIndex,
        items: IdIndex,
        u: np.ndarray,
        i: np.ndarray,
        day: np.ndarray,
        code: np.ndarray,
        n_codes: int,
        guest_i: np.ndarray | None = None,
        guest_code: np.ndarray | None = None,
    ) -> BasketLog:
        """Orders = distinct (customer, key), dated by their first line, sorted by (customer,
        day, key). Integer arrays only (no string grouping), so millions of lines take seconds."""
        group = u.astype(np.int64) * n_codes + code
        order_key, line_order = np.unique(group, return_inverse=True)
        order_day = np.full(order_key.size, np.inf)
        np.minimum.at(order_day, line_order, day)
        order_user = order_key // n_codes
        by_time = np.lexsort((order_key % n_codes, order_day, order_user))
        position = np.empty(order_key.size, dtype=np.int64)
        position[by_time] = np.arange(order_key.size)
        n_items = max(len(items), 1)
        line_key = np.unique(position[line_order] * n_items + i)  # sorted (order, item), distinct
        order_ptr = np.zeros(len(users) + 1, dtype=np.int64)
        order_ptr[1:] = np.cumsum(np.bincount(order_user, minlength=len(users)))
        line_ptr = np.zeros(order_key.size + 1, dtype=np.int64)
        line_ptr[1:] = np.cumsum(np.bincount(line_key // n_items, minlength=order_key.size))
        guest_ptr, guest_item = _guest_baskets(guest_code, guest_i, n_items)
        return cls(
            users,
            items,
            order_ptr,
            order_day[by_time],
            line_ptr,
            (line_key % n_items).astype(np.int32),
            guest_ptr,
            guest_item,
        )

    @property
    def n_orders_total(self) -> int:
        return int(self.order_ptr[-1])

    @property
    def n_guest_baskets(self) -> int:
        return int(self.guest_ptr.size - 1)

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
        extra = extra or []
        add_user = np.array([b for b, e in enumerate(extra) for _ in e], dtype=np.int64)
        add_days = np.array([d for e in extra for d, _ in e], dtype=np.float64)
        add_items = [np.asarray(its, dtype=np.int32) for e in extra for _, its in e]
        add_counts = np.array([len(a) for a in add_items], dtype=np.int64)
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
        ago = np.empty(ranked_user.size, dtype=np.int64)
        ago[order] = np.arange(ranked_user.size) - np.searchsorted(ranked_user, ranked_user)
        n_orders = np.bincount(all_order_user, minlength=n).astype(np.int64)
        days_ago_order = now_arr[all_order_user] - all_order_day
        last = np.full(n, np.inf)
        np.minimum.at(last, all_order_user, days_ago_order)
        first_seen = np.full(n, -np.inf)
        np.maximum.at(first_seen, all_order_user, days_ago_order)
        last[n_orders == 0] = np.nan
        first_seen[n_orders == 0] = np.nan
        return CustomerLines(
            user=np.repeat(all_order_user, all_counts),
            item=all_items.astype(np.int64),
            orders_ago=np.repeat(ago, all_counts),
            days_ago=np.repeat(days_ago_order, all_counts),
            n_orders=n_orders,
            last_order_days_ago=last,
            first_order_days_ago=first_seen,
        )


@dataclass(frozen=True)
class EncodedLines:
    """Order lines as integer codes, parsed once: the basket log at any cut-off is then a
    filter and a renumbering of integers, with no string hashing per cut-off."""

    users: IdIndex
    items: IdIndex
    u: np.ndarray  # customer index per line
    i: np.ndarray  # item index per line
    day: np.ndarray  # float days since 1970
    micros: np.ndarray  # int64 microseconds since 1970 (exact cut-off comparisons)
    code: np.ndarray  # order key code; code order = the keys' string order
    n_codes: int
    guest: _GuestCodes | None = None  # guest lines (no customer), when given

    @classmethod
    def from_lines(
        cls,
        lines: pd.DataFrame,
        users: IdIndex | None = None,
        items: IdIndex | None = None,
        guests: pd.DataFrame | None = None,
    ) -> EncodedLines:
        """Customer lines, and guest lines when given (see `BasketLog.from_lines`)."""
        for col in (C.CUSTOMER_ID, C.ITEM_ID, C.ORDERED_AT):
            if col not in lines.columns:
                raise ValueError(f"order lines lack column {col!r} (have {list(lines.columns)})")
        customers = lines[C.CUSTOMER_ID].astype(str)
        item_ids = lines[C.ITEM_ID].astype(str)
        guest_items = None
        if guests is not None:
            for col in (C.ITEM_ID, C.ORDERED_AT):
                if col not in guests.columns:
                    raise ValueError(
                        f"guest lines lack column {col!r} (have {list(guests.columns)})"
                    )
            guest_items = guests[C.ITEM_ID].astype(str)
        users = users or IdIndex.from_values(pd.unique(customers))
        if not items:  # none given (or empty): the items of the lines
            ids = item_ids if guest_items is None else pd.concat([item_ids, guest_items])
            items = IdIndex.from_values(pd.unique(ids))
        u = users.to_internal(customers, strict=False)
        i = items.to_internal(item_ids, strict=False)
        day, micros, codes, n_codes = _when_and_key(lines)
        ok = (u >= 0) & (i >= 0) & np.isfinite(day)
        guest = None
        if guests is not None:
            gi = items.to_internal(guest_items, strict=False)
            g_day, g_micros, g_codes, _ = _when_and_key(guests)
            g_ok = (gi >= 0) & np.isfinite(g_day)
            guest = _GuestCodes(gi[g_ok], g_micros[g_ok], g_codes[g_ok])
        return cls(users, items, u[ok], i[ok], day[ok], micros[ok], codes[ok], n_codes, guest)

    def log_before(self, cutoff: pd.Timestamp) -> BasketLog:
        """Exactly `BasketLog.from_lines` of the lines (and guest lines) before `cutoff`."""
        limit = np.datetime64(pd.Timestamp(cutoff), "us").astype(np.int64)
        keep = self.micros < limit
        u, i = self.u[keep], self.i[keep]
        g_keep = None if self.guest is None else self.guest.micros < limit
        g_i = None if self.guest is None else self.guest.i[g_keep]
        present_u = np.unique(u)  # sorted positions in a sorted index: still sorted
        present_i = np.unique(i if g_i is None else np.concatenate([i, g_i]))
        users = IdIndex(self.users.external_ids[present_u].tolist())
        items = IdIndex(self.items.external_ids[present_i].tolist())
        return BasketLog._build(
            users,
            items,
            np.searchsorted(present_u, u),
            np.searchsorted(present_i, i).astype(np.int64),
            self.day[keep],
            self.code[keep],
            self.n_codes,
            None if g_i is None else np.searchsorted(present_i, g_i).astype(np.int64),
            None if self.guest is None else self.guest.code[g_keep],
        )


@dataclass(frozen=True)
class _GuestCodes:
    """Guest lines as integer codes: item index, time and basket key per line."""

    i: np.ndarray
    micros: np.ndarray
    code: np.ndarray


def _when_and_key(lines: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(days, microseconds, order key codes, number of codes) of order lines."""
    stamps = pd.to_datetime(pd.Series(lines[C.ORDERED_AT])).astype("datetime64[us]")
    day = to_days(stamps)
    micros = stamps.to_numpy().astype(np.int64)  # NaT is the int64 minimum; dropped by callers
    key = lines[C.ORDER_ID] if C.ORDER_ID in lines.columns else lines[C.ORDERED_AT]
    # sort=True: code order is the keys' string order (the tie-break between orders)
    codes, uniques = pd.factorize(key.astype(str).to_numpy(), sort=True)
    return day, micros, codes, max(len(uniques), 1)


def _guest_baskets(
    code: np.ndarray | None, item: np.ndarray | None, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """(guest_ptr, guest_item): one basket per distinct key, its distinct items ascending."""
    if code is None or item is None or code.size == 0:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32)
    width = max(n_items, 1)
    key = np.unique(code.astype(np.int64) * width + item)  # sorted (basket, item), distinct
    _, basket = np.unique(key // width, return_inverse=True)
    ptr = np.zeros(int(basket.max()) + 2, dtype=np.int64)
    ptr[1:] = np.cumsum(np.bincount(basket))
    return ptr, (key % width).astype(np.int32)


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, e) for each pair, without a Python loop."""
    lengths = (ends - starts).astype(np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(total, dtype=np.int64)
