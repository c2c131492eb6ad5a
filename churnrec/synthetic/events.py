"""Clickstream sessions: the funnel behind each online order, and browsing that goes nowhere.

Three kinds of session:
- purchase sessions for web/app orders: view -> add_to_cart -> checkout -> purchase;
- research sessions in the days before an order (more views before a purchase), some with an
  abandoned cart or checkout;
- background browsing while a customer is engaged, which fades over the weeks before they drop
  out and stops soon after, so engagement carries a churn signal beyond orders.
Store orders leave no clickstream.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.synthetic.catalogue import Catalogue
from churnrec.synthetic.config import ShopConfig
from churnrec.synthetic.customers import CHANNELS, CustomerPanel, to_timestamps
from churnrec.synthetic.orders import OrderSim
from churnrec.synthetic.sampling import position_in_group, sample_rows

VIEW, CART, CHECKOUT, PURCHASE = range(4)
EVENT_NAMES = np.array([C.EVENT_VIEW, C.EVENT_ADD_TO_CART, C.EVENT_CHECKOUT, C.EVENT_PURCHASE])
STORE = CHANNELS.index("store")
MINUTE = 1.0 / 1440
SESSION_MINUTES = 60  # a purchase session starts at most this long before the order

RESEARCH_SESSIONS_PER_ORDER = 0.7
BROWSE_SESSIONS_PER_ORDER = 0.6  # background browsing rate relative to the purchase rate
ENGAGEMENT_DECAY_DAYS = 60.0  # browsing fades over this many days before dropping out
AFTERGLOW_DAYS = 45.0  # some browsing goes on after the last order, then stops
AFTERGLOW_LEVEL = 0.1
NEVER_BUYER_WINDOW_DAYS = 30.0
NEVER_BUYER_RATE = 0.05  # sessions per day in their first month


def simulate_events(
    config: ShopConfig,
    panel: CustomerPanel,
    catalogue: Catalogue,
    orders: OrderSim,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """All clickstream events of the period, in time order."""
    builder = _SessionBuilder(config, panel, catalogue, rng)
    builder.purchase_sessions(orders)
    n_orders = len(orders.order_day)
    n_research = rng.poisson(RESEARCH_SESSIONS_PER_ORDER, n_orders)
    r_order = np.repeat(np.arange(n_orders), n_research)
    # line_order is sorted and every order keeps its first line
    first_item = orders.line_item[np.searchsorted(orders.line_order, np.arange(n_orders))]
    builder.browse(
        orders.order_customer[r_order],
        orders.order_day[r_order] - rng.uniform(0.3, 7.0, len(r_order)),
        np.where(rng.random(len(r_order)) < 0.6, first_item[r_order], -1),
        mean_extra_views=2.5,
        p_cart=0.3,
        p_checkout=0.15,
    )
    b_cust, b_start = _background_starts(config, panel, orders.death_day, rng)
    builder.browse(
        b_cust,
        b_start,
        np.full(len(b_cust), -1),
        mean_extra_views=1.5,
        p_cart=0.15,
        p_checkout=0.25,
    )
    return builder.frame()


class _SessionBuilder:
    """Collects sessions and their events as index arrays; strings only at the end."""

    def __init__(
        self,
        config: ShopConfig,
        panel: CustomerPanel,
        catalogue: Catalogue,
        rng: np.random.Generator,
    ) -> None:
        self.config, self.panel, self.catalogue, self.rng = config, panel, catalogue, rng
        self.events: dict[str, list[np.ndarray]] = {
            k: [] for k in ("cust", "day", "kind", "item", "sid")
        }
        self.sessions: dict[str, list[np.ndarray]] = {k: [] for k in ("cust", "start", "channel")}
        self.n_sessions = 0
        prefs = panel.channel_pref
        self.web_share = prefs[:, 0] / prefs[:, :2].sum(axis=1)

    # --- building blocks -----------------------------------------------------------------------
    def add_events(self, cust, day, kind, item, sid) -> None:
        n = len(day)
        for key, value in zip(self.events, (cust, day, kind, item, sid), strict=True):
            self.events[key].append(np.broadcast_to(value, n))

    def new_sessions(self, cust: np.ndarray, start: np.ndarray, channel: np.ndarray) -> np.ndarray:
        for key, value in zip(self.sessions, (cust, start, channel), strict=True):
            self.sessions[key].append(value)
        ids = np.arange(self.n_sessions, self.n_sessions + len(cust))
        self.n_sessions += len(cust)
        return ids

    def pick_items(self, cust: np.ndarray) -> np.ndarray:
        """Items a customer looks at: their category affinity, their segment's taste."""
        cat = sample_rows(self.rng, self.panel.affinity, cust)
        rows = self.panel.segment[cust] * self.catalogue.n_categories + cat
        return sample_rows(self.rng, self.catalogue.item_probs, rows)

    def online_channel(self, cust: np.ndarray) -> np.ndarray:
        return np.where(self.rng.random(len(cust)) < self.web_share[cust], 0, 1)

    # --- session kinds -------------------------------------------------------------------------
    def purchase_sessions(self, orders: OrderSim) -> None:
        """Online orders: view and cart each line, look at a few more items, check out, pay."""
        rng = self.rng
        online = np.flatnonzero(orders.order_channel != STORE)
        t, cust = orders.order_day[online], orders.order_customer[online]
        sid = self.new_sessions(cust, t - SESSION_MINUTES * MINUTE, orders.order_channel[online])
        session_of_order = np.full(len(orders.order_day), -1)
        session_of_order[online] = sid

        lines = np.flatnonzero(session_of_order[orders.line_order] >= 0)
        l_order = orders.line_order[lines]
        l_t, l_cust = orders.order_day[l_order], orders.order_customer[l_order]
        l_sid, l_item = session_of_order[l_order], orders.line_item[lines]
        self.add_events(
            l_cust, l_t - rng.uniform(9, 11.5, len(lines)) * MINUTE, VIEW, l_item, l_sid
        )
        self.add_events(l_cust, l_t - rng.uniform(3, 8.5, len(lines)) * MINUTE, CART, l_item, l_sid)

        # a few more items looked at before the basket, in their own 2-minute slots so that no
        # two events of a session share a timestamp
        n_extra = rng.poisson(2.0, len(online))
        x_cust, x_t, x_sid = (np.repeat(a, n_extra) for a in (cust, t, sid))
        x_item = self.pick_items(x_cust)
        slot = 12 + 2 * position_in_group(n_extra) + rng.uniform(0, 1, len(x_t))
        x_view_t = x_t - slot * MINUTE
        self.add_events(x_cust, x_view_t, VIEW, x_item, x_sid)
        kept = rng.random(len(x_t)) < 0.12  # carted, then removed before paying
        x_cart_t = x_view_t[kept] + rng.uniform(0.2, 0.9, int(kept.sum())) * MINUTE
        self.add_events(x_cust[kept], x_cart_t, CART, x_item[kept], x_sid[kept])

        self.add_events(cust, t - rng.uniform(1, 2.5, len(t)) * MINUTE, CHECKOUT, -1, sid)
        self.add_events(cust, t, PURCHASE, -1, sid)

    def browse(
        self,
        cust: np.ndarray,
        start: np.ndarray,
        forced_item: np.ndarray,
        *,
        mean_extra_views: float,
        p_cart: float,
        p_checkout: float,
    ) -> None:
        """Sessions without a purchase: views, maybe a cart, maybe an abandoned checkout."""
        rng = self.rng
        ok = (start >= self.panel.signup_day[cust]) & (start < self.config.horizon_days - 0.1)
        cust, start, forced_item = cust[ok], start[ok], forced_item[ok]
        sid = self.new_sessions(cust, start, self.online_channel(cust))
        n_views = 1 + rng.poisson(mean_extra_views, len(cust))
        v_cust, v_start, v_sid, v_forced = (
            np.repeat(a, n_views) for a in (cust, start, sid, forced_item)
        )
        v_pos = position_in_group(n_views)
        v_item = np.where((v_pos == 0) & (v_forced >= 0), v_forced, self.pick_items(v_cust))
        v_day = v_start + (v_pos + rng.random(len(v_pos))) * 1.5 * MINUTE
        self.add_events(v_cust, v_day, VIEW, v_item, v_sid)

        end = start + (n_views + 0.5) * 1.5 * MINUTE
        first_item = v_item[np.cumsum(n_views) - n_views]
        cart = rng.random(len(cust)) < p_cart
        self.add_events(cust[cart], end[cart], CART, first_item[cart], sid[cart])
        checkout = cart & (rng.random(len(cust)) < p_checkout)
        self.add_events(cust[checkout], end[checkout] + MINUTE, CHECKOUT, -1, sid[checkout])

    # --- output --------------------------------------------------------------------------------
    def frame(self) -> pd.DataFrame:
        """The events table, sorted by time; session ids numbered in order of session start."""
        cust, day, kind, item, sid = (np.concatenate(v) for v in self.events.values())
        s_cust, s_start, s_channel = (np.concatenate(v) for v in self.sessions.values())
        rank = np.empty(len(s_start), dtype=np.int64)
        rank[np.lexsort((s_cust, s_start))] = np.arange(len(s_start))
        day = np.maximum(day, self.panel.signup_day[cust])  # a first order right after signup
        order = np.lexsort((kind, rank[sid], day))
        cust, day, kind, item, sid = (a[order] for a in (cust, day, kind, item, sid))
        width = max(9, len(str(len(s_start))))
        session_ids = np.strings.add("S", np.strings.zfill((rank[sid] + 1).astype(str), width))
        item_ids = np.where(item >= 0, self.catalogue.item_ids[np.maximum(item, 0)], None)
        return pd.DataFrame(
            {
                C.CUSTOMER_ID: self.panel.frame[C.CUSTOMER_ID].to_numpy()[cust],
                C.OCCURRED_AT: to_timestamps(self.config, day),
                C.EVENT_TYPE: EVENT_NAMES[kind],
                C.ITEM_ID: pd.array(item_ids, dtype="str"),
                C.SESSION_ID: session_ids,
                C.CHANNEL: np.array(CHANNELS)[s_channel[sid]],
            }
        )


def _background_starts(
    config: ShopConfig, panel: CustomerPanel, death_day: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Start days of background sessions: Poisson while engaged, thinned as dropout nears."""
    window_end = np.minimum(death_day + AFTERGLOW_DAYS, config.horizon_days)
    window = np.maximum(window_end - panel.signup_day, 0.0)
    window = np.where(panel.never_buyer, np.minimum(window, NEVER_BUYER_WINDOW_DAYS), window)
    rate = np.where(
        panel.never_buyer, NEVER_BUYER_RATE, BROWSE_SESSIONS_PER_ORDER / panel.mean_gap + 1.0 / 150
    )
    count = rng.poisson(rate * window)
    cust = np.repeat(np.arange(panel.n), count)
    start = panel.signup_day[cust] + rng.random(len(cust)) * window[cust]
    to_death = death_day[cust] - start
    keep_p = np.where(
        to_death > 0, np.clip(to_death / ENGAGEMENT_DECAY_DAYS, 0.15, 1.0), AFTERGLOW_LEVEL
    )
    keep_p = np.where(panel.never_buyer[cust], 1.0, keep_p)
    keep = rng.random(len(cust)) < keep_p
    return cust[keep], start[keep]
