"""Order lines from a BG/NBD-like process in seasonal time, with baskets and returns.
Decliners' last gaps stretch before they leave, so a slowing customer looks different from a
steady one with the same recency."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.synthetic.catalogue import Catalogue
from churnrec.synthetic.config import ShopConfig
from churnrec.synthetic.customers import CHANNELS, CustomerPanel, to_timestamps
from churnrec.synthetic.sampling import (
    position_in_group,
    sample_rows,
    segment_starts,
    time_of_day,
)
from churnrec.synthetic.seasonality import Season

LINES_PER_ORDER_SHARES = (0.55, 0.27, 0.12, 0.06)  # 1, 2, 3, 4 lines
STAPLE_IN_ORDER = 0.8  # share of a replenisher's orders that contain the staple item
PROMO_DAYS = (324, 360)  # day-of-year window with frequent discounts (late Nov - Christmas)
STATUS_COMPLETED = "completed"
STATUS_RETURNED = "returned"
ONE_SECOND = 1.0 / 86_400
MIN_AFTER_SIGNUP = 90 / 1440  # room for the browsing session that leads to a first order


@dataclass(frozen=True)
class OrderSim:
    """Order lines (shop export) plus the latent arrays the event simulator reuses."""

    frame: pd.DataFrame
    order_customer: np.ndarray  # customer index per order, orders in time order
    order_day: np.ndarray  # float days since start per order
    order_channel: np.ndarray  # index into CHANNELS per order
    line_order: np.ndarray  # order index per line
    line_item: np.ndarray  # item index per line
    death_day: np.ndarray  # per customer: calendar day they dropped out; inf = still alive


def simulate_orders(
    config: ShopConfig,
    panel: CustomerPanel,
    catalogue: Catalogue,
    season: Season,
    rng: np.random.Generator,
) -> OrderSim:
    """All order lines of the period, in time order."""
    order_customer, order_day, death_day = _purchase_times(config, panel, season, rng)
    n_orders = len(order_customer)
    order_channel = sample_rows(rng, panel.channel_pref, order_customer)

    n_lines = rng.choice(len(LINES_PER_ORDER_SHARES), n_orders, p=LINES_PER_ORDER_SHARES) + 1
    line_order = np.repeat(np.arange(n_orders), n_lines)
    line_pos = position_in_group(n_lines)
    cust = order_customer[line_order]
    cat = sample_rows(rng, panel.affinity, cust)
    item = sample_rows(
        rng, catalogue.item_probs, panel.segment[cust] * catalogue.n_categories + cat
    )
    staple = (line_pos == 0) & panel.replenisher[cust] & (rng.random(len(cust)) < STAPLE_IN_ORDER)
    item = np.where(staple, panel.staple_item[cust], item)

    # a basket holds an item once
    key = line_order.astype(np.int64) * catalogue.n_items + item
    keep = np.sort(np.unique(key, return_index=True)[1])
    line_order, item, cust = line_order[keep], item[keep], cust[keep]
    n = len(item)

    consumable = catalogue.consumable[catalogue.category[item]]
    quantity = np.where(consumable, 1 + rng.poisson(0.4, n), 1 + (rng.random(n) < 0.08))
    doy = season.day_of_year(order_day[line_order])
    promo_p = np.where((doy >= PROMO_DAYS[0]) & (doy <= PROMO_DAYS[1]), 0.3, 0.07)
    discount = np.where(rng.random(n) < promo_p, 0.8, 1.0)
    unit_price = np.round(catalogue.price[item] * discount, 2)
    returned = rng.random(n) < panel.return_prop[cust]

    width = max(8, len(str(n_orders)))
    order_ids = np.strings.add("O", np.strings.zfill(np.arange(1, n_orders + 1).astype(str), width))
    frame = pd.DataFrame(
        {
            C.ORDER_ID: order_ids[line_order],
            C.CUSTOMER_ID: panel.frame[C.CUSTOMER_ID].to_numpy()[cust],
            C.ORDERED_AT: to_timestamps(config, order_day)[line_order],
            C.ITEM_ID: catalogue.item_ids[item],
            C.QUANTITY: quantity.astype(np.int64),
            C.UNIT_PRICE: unit_price,
            C.CHANNEL: np.array(CHANNELS)[order_channel[line_order]],
            C.STATUS: np.where(returned, STATUS_RETURNED, STATUS_COMPLETED),
        }
    )
    return OrderSim(
        frame=frame,
        order_customer=order_customer,
        order_day=order_day,
        order_channel=order_channel,
        line_order=line_order,
        line_item=item,
        death_day=death_day,
    )


def _purchase_times(
    config: ShopConfig, panel: CustomerPanel, season: Season, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(customer per order, day per order) sorted by time, and each customer's dropout day."""
    n = panel.n
    k_steps, factor = config.decline_steps, config.decline_factor
    op_signup = season.to_operational(panel.signup_day)

    # Purchases until dropout; capped far above what fits in the period so arrays stay small.
    expected = np.maximum(season.total - op_signup, 0.0) / panel.mean_gap
    cap = np.ceil(expected + 6.0 * np.sqrt(expected) + 10.0).astype(np.int64)
    n_life = rng.geometric(panel.dropout_p)
    n_gen = np.where(panel.never_buyer, 0, np.minimum(n_life, cap))
    dies = (n_life <= cap) & ~panel.never_buyer

    owner = np.repeat(np.arange(n), n_gen)
    pos = position_in_group(n_gen)
    gaps = _gap_units(config, panel.replenisher[owner], rng) * panel.mean_gap[owner]
    first = pos == 0
    gaps[first] = rng.exponential(config.first_order_mean_days, int(first.sum()))
    to_last = n_life[owner] - 1 - pos  # purchases still to come before dropping out
    declining = panel.decliner[owner] & dies[owner] & ~first & (to_last < k_steps)
    gaps[declining] *= factor ** (k_steps - to_last[declining])

    cumulative = np.cumsum(gaps)
    starts = segment_starts(n_gen)
    has = n_gen > 0
    before = np.zeros(n)
    before[has] = cumulative[starts[has]] - gaps[starts[has]]
    op_time = op_signup[owner] + cumulative - before[owner]

    last_op = op_signup.copy()
    last_op[has] = op_time[starts[has] + n_gen[has] - 1]
    death_gap = _gap_units(config, panel.replenisher, rng) * panel.mean_gap
    death_gap *= np.where(panel.decliner, factor ** (k_steps + 1), 1.0)
    death_op = np.where(dies, last_op + death_gap, np.inf)
    death_op = np.where(panel.never_buyer, op_signup, death_op)

    keep = op_time < season.total
    customer = owner[keep]
    day = np.floor(season.to_calendar(op_time[keep])) + time_of_day(rng, int(keep.sum()))
    day = np.maximum(day, panel.signup_day[customer] + MIN_AFTER_SIGNUP)
    day = np.minimum(day, config.horizon_days - ONE_SECOND)
    order = np.lexsort((customer, day))
    return customer[order], day[order], season.to_calendar(death_op)


def _gap_units(config: ShopConfig, replenisher: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unit-mean gaps: exponential (Poisson buying) or regular gamma for replenishers."""
    k = config.replenish_regularity
    exponential = rng.exponential(1.0, len(replenisher))
    regular = rng.gamma(k, 1.0 / k, len(replenisher))
    return np.where(replenisher, regular, exponential)
