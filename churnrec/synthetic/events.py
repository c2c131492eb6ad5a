"""Clickstream: the funnel behind each online order, and browsing that fades before a customer
drops out (a churn signal beyond orders). Checkout errors, far more common on one platform,
mostly end the session: a drop-out a funnel report should find."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.synthetic.catalogue import Catalogue
from churnrec.synthetic.config import ShopConfig
from churnrec.synthetic.customers import ACQUISITION, CHANNELS, CustomerPanel, to_timestamps
from churnrec.synthetic.orders import OrderSim
from churnrec.synthetic.sampling import position_in_group, sample_rows

VIEW, CART, CHECKOUT, PURCHASE, PAYMENT_ERROR, CHECKOUT_ERROR = range(6)
EVENT_PAYMENT_ERROR = "payment_error"
EVENT_CHECKOUT_ERROR = "checkout_error"
EVENT_NAMES = np.array([*C.FUNNEL_EVENTS, EVENT_PAYMENT_ERROR, EVENT_CHECKOUT_ERROR])
PURCHASE_KIND, RESEARCH_KIND, BROWSE_KIND = range(3)  # why a session was simulated
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
HESITATION_SESSIONS_PER_ORDER = 2.0  # carts left behind in the weeks before an online order
BOUNCE_RATE_FACTOR = 2.0  # one-page visits, relative to background browsing


class Visit(NamedTuple):
    """How a session without a purchase goes: views after the first, P(cart), P(checkout | cart)."""

    mean_extra_views: float
    p_cart: float
    p_checkout: float
    kind: int


RESEARCH = Visit(2.5, 0.3, 0.15, RESEARCH_KIND)
BACKGROUND = Visit(1.5, 0.15, 0.25, BROWSE_KIND)
HESITATION = Visit(2.0, 0.8, 0.35, RESEARCH_KIND)
BOUNCE = Visit(0.0, 0.0, 0.0, BROWSE_KIND)

# Where a returning visit comes from (traffic source), per session kind; e-mail only reaches
# customers who allow marketing. The first visit comes from the acquisition channel.
TRAFFIC_CHANNELS = ("direct", *ACQUISITION)
TRAFFIC_MIX = np.array(
    [
        (0.30, 0.20, 0.12, 0.06, 0.04, 0.28),  # purchase sessions
        (0.22, 0.25, 0.20, 0.10, 0.05, 0.18),  # research sessions
        (0.15, 0.25, 0.22, 0.25, 0.03, 0.10),  # background browsing
    ]
)
OWN_CHANNEL_BOOST = 0.25  # returning visits lean towards the channel that brought the customer
# Devices per online channel (web, app): web is desktop or mobile browser, app is iOS/Android.
PLATFORMS = ("desktop", "mobile_web", "ios_app", "android_app")
# chance that an abandoned checkout shows an error first, per platform (android has a bug)
ERROR_ON_ABANDON = np.array([0.08, 0.15, 0.06, 0.55])
ERROR_ON_PURCHASE = np.array([0.01, 0.02, 0.01, 0.06])  # error, retry, paid


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
    start = orders.order_day[r_order] - rng.uniform(0.3, 7.0, len(r_order))
    forced = np.where(rng.random(len(r_order)) < 0.6, first_item[r_order], -1)
    builder.browse(orders.order_customer[r_order], start, RESEARCH, forced)
    builder.browse(*_background_starts(config, panel, orders.death_day, rng), BACKGROUND)
    # Drop-outs, drawn after everything above so those sessions stay as they were: visits in
    # the two weeks before an online order that fill a cart (and often start a checkout) and
    # leave, and one-page bounces at the pace of the customer's background browsing.
    online = np.flatnonzero(orders.order_channel != STORE)
    h_order = np.repeat(online, rng.poisson(HESITATION_SESSIONS_PER_ORDER, len(online)))
    start = orders.order_day[h_order] - rng.uniform(0.2, 14.0, len(h_order))
    builder.browse(orders.order_customer[h_order], start, HESITATION)
    bounces = _background_starts(config, panel, orders.death_day, rng, BOUNCE_RATE_FACTOR)
    builder.browse(*bounces, BOUNCE)
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
        self.sessions: dict[str, list[np.ndarray]] = {
            k: [] for k in ("cust", "start", "channel", "kind")
        }
        self.n_sessions = 0
        prefs = panel.channel_pref
        self.web_share = prefs[:, 0] / prefs[:, :2].sum(axis=1)

    def add_events(self, cust, day, kind, item, sid) -> None:
        n = len(day)
        for key, value in zip(self.events, (cust, day, kind, item, sid), strict=True):
            self.events[key].append(np.broadcast_to(value, n))

    def new_sessions(
        self, cust: np.ndarray, start: np.ndarray, channel: np.ndarray, kind: int
    ) -> np.ndarray:
        kinds = np.full(len(cust), kind)
        for key, value in zip(self.sessions, (cust, start, channel, kinds), strict=True):
            self.sessions[key].append(value)
        ids = np.arange(self.n_sessions, self.n_sessions + len(cust))
        self.n_sessions += len(cust)
        return ids

    def pick_items(self, cust: np.ndarray) -> np.ndarray:
        """Items a customer looks at: their category affinity, their segment's taste."""
        cat = sample_rows(self.rng, self.panel.affinity, cust)
        rows = self.panel.segment[cust] * self.catalogue.n_categories + cat
        return sample_rows(self.rng, self.catalogue.item_probs, rows)

    def purchase_sessions(self, orders: OrderSim) -> None:
        """Online orders: view and cart each line, look at a few more items, check out, pay."""
        rng = self.rng
        online = np.flatnonzero(orders.order_channel != STORE)
        t, cust = orders.order_day[online], orders.order_customer[online]
        sid = self.new_sessions(
            cust, t - SESSION_MINUTES * MINUTE, orders.order_channel[online], PURCHASE_KIND
        )
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
        visit: Visit,
        forced_item: np.ndarray | None = None,
    ) -> None:
        """Sessions without a purchase: views, maybe a cart, maybe an abandoned checkout."""
        rng = self.rng
        if forced_item is None:
            forced_item = np.full(len(cust), -1)
        ok = (start >= self.panel.signup_day[cust]) & (start < self.config.horizon_days - 0.1)
        cust, start, forced_item = cust[ok], start[ok], forced_item[ok]
        channel = np.where(rng.random(len(cust)) < self.web_share[cust], 0, 1)
        sid = self.new_sessions(cust, start, channel, visit.kind)
        n_views = 1 + rng.poisson(visit.mean_extra_views, len(cust))
        v_cust, v_start, v_sid, v_forced = (
            np.repeat(a, n_views) for a in (cust, start, sid, forced_item)
        )
        v_pos = position_in_group(n_views)
        v_item = np.where((v_pos == 0) & (v_forced >= 0), v_forced, self.pick_items(v_cust))
        v_day = v_start + (v_pos + rng.random(len(v_pos))) * 1.5 * MINUTE
        self.add_events(v_cust, v_day, VIEW, v_item, v_sid)

        end = start + (n_views + 0.5) * 1.5 * MINUTE
        first_item = v_item[np.cumsum(n_views) - n_views]
        cart = rng.random(len(cust)) < visit.p_cart
        self.add_events(cust[cart], end[cart], CART, first_item[cart], sid[cart])
        checkout = cart & (rng.random(len(cust)) < visit.p_checkout)
        self.add_events(cust[checkout], end[checkout] + MINUTE, CHECKOUT, -1, sid[checkout])

    def frame(self) -> pd.DataFrame:
        """The events table by time, session ids in order of start. Traffic, device and errors
        are drawn last, so they leave the sessions and funnel events unchanged."""
        s_cust, s_start, s_channel, s_kind = (np.concatenate(v) for v in self.sessions.values())
        traffic = self.traffic_channels(s_cust, s_start, s_kind)
        platform = self.platforms(s_cust, s_channel)
        self.error_events(platform)
        cust, day, kind, item, sid = (np.concatenate(v) for v in self.events.values())
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
                C.CHANNEL: np.array(TRAFFIC_CHANNELS)[traffic[sid]],
                C.PLATFORM: np.array(PLATFORMS)[platform[sid]],
            }
        )

    def traffic_channels(
        self, s_cust: np.ndarray, s_start: np.ndarray, s_kind: np.ndarray
    ) -> np.ndarray:
        """Index into TRAFFIC_CHANNELS per session: first visit = acquisition channel."""
        acq_names = self.panel.frame[C.ACQUISITION_CHANNEL].to_numpy()
        own = pd.Categorical(acq_names, categories=TRAFFIC_CHANNELS).codes.astype(np.int64)
        consent = self.panel.frame[C.MARKETING_CONSENT].to_numpy(dtype=bool)
        n_channels = len(TRAFFIC_CHANNELS)
        # one distribution per (session kind, own channel, consent)
        kinds, owns, consents = np.meshgrid(
            np.arange(len(TRAFFIC_MIX)), np.arange(n_channels), [0, 1], indexing="ij"
        )
        table = TRAFFIC_MIX[kinds.ravel()] + OWN_CHANNEL_BOOST * np.eye(n_channels)[owns.ravel()]
        table[consents.ravel() == 0, TRAFFIC_CHANNELS.index("email")] = 0.0
        table /= table.sum(axis=1, keepdims=True)
        rows = (s_kind * n_channels + own[s_cust]) * 2 + consent[s_cust]
        channel = sample_rows(self.rng, table, rows)
        first = np.lexsort((s_start, s_cust))
        is_first = np.r_[True, s_cust[first][1:] != s_cust[first][:-1]]
        channel[first[is_first]] = own[s_cust[first[is_first]]]
        return channel

    def platforms(self, s_cust: np.ndarray, s_channel: np.ndarray) -> np.ndarray:
        """Index into PLATFORMS per session: customers mostly stick to their own devices."""
        p_mobile = self.rng.beta(2.0, 2.0, self.panel.n)
        p_android = self.rng.beta(1.5, 2.0, self.panel.n)
        u = self.rng.random(len(s_cust))
        web = np.where(u < p_mobile[s_cust], 1, 0)
        app = np.where(u < p_android[s_cust], 3, 2)
        return np.where(s_channel == 0, web, app)

    def error_events(self, platform: np.ndarray) -> None:
        """Payment/checkout errors after a checkout: often before a drop-out, rarely before a
        purchase that went through on a retry."""
        cust, day, kind, _, sid = (np.concatenate(v) for v in self.events.values())
        n = len(platform)
        checkout_at = np.full(n, np.inf)
        np.minimum.at(checkout_at, sid[kind == CHECKOUT], day[kind == CHECKOUT])
        paid_at = np.full(n, np.nan)
        paid_at[sid[kind == PURCHASE]] = day[kind == PURCHASE]
        owner = np.zeros(n, dtype=np.int64)
        owner[sid] = cust
        reached = np.isfinite(checkout_at)
        paid = ~np.isnan(paid_at)
        u = self.rng.random(n)
        abandoned_error = reached & ~paid & (u < ERROR_ON_ABANDON[platform])
        retried_error = reached & paid & (u < ERROR_ON_PURCHASE[platform])
        error_kind = np.where(self.rng.random(n) < 0.7, PAYMENT_ERROR, CHECKOUT_ERROR)
        at = np.where(paid, paid_at - 0.5 * MINUTE, checkout_at + 0.5 * MINUTE)
        s = np.flatnonzero(abandoned_error | retried_error)
        self.add_events(owner[s], at[s], error_kind[s], -1, s)


def _background_starts(
    config: ShopConfig,
    panel: CustomerPanel,
    death_day: np.ndarray,
    rng: np.random.Generator,
    rate_factor: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Start days of background sessions: Poisson while engaged, thinned as dropout nears."""
    window_end = np.minimum(death_day + AFTERGLOW_DAYS, config.horizon_days)
    window = np.maximum(window_end - panel.signup_day, 0.0)
    window = np.where(panel.never_buyer, np.minimum(window, NEVER_BUYER_WINDOW_DAYS), window)
    rate = np.where(
        panel.never_buyer, NEVER_BUYER_RATE, BROWSE_SESSIONS_PER_ORDER / panel.mean_gap + 1.0 / 150
    )
    count = rng.poisson(rate_factor * rate * window)
    cust = np.repeat(np.arange(panel.n), count)
    start = panel.signup_day[cust] + rng.random(len(cust)) * window[cust]
    to_death = death_day[cust] - start
    keep_p = np.where(
        to_death > 0, np.clip(to_death / ENGAGEMENT_DECAY_DAYS, 0.15, 1.0), AFTERGLOW_LEVEL
    )
    keep_p = np.where(panel.never_buyer[cust], 1.0, keep_p)
    keep = rng.random(len(cust)) < keep_p
    return cust[keep], start[keep]
