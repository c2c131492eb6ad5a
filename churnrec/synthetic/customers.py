"""Customers: the exported table plus latent buy-till-you-die traits (gamma rate, Beta dropout),
taste segments, category affinities, scheduled staples, channel and return habits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.synthetic.catalogue import Catalogue
from churnrec.synthetic.config import ShopConfig
from churnrec.synthetic.sampling import sample_rows, time_of_day

REGIONS = ("north", "south", "east", "west", "central")
REGION_SHARES = (0.22, 0.24, 0.18, 0.2, 0.16)
GENDERS = ("female", "male", "other")
GENDER_SHARES = (0.52, 0.45, 0.03)
# acquisition channel -> share of sign-ups, multiplier on the dropout probability
ACQUISITION = {
    "organic": (0.35, 0.9),
    "paid_search": (0.25, 1.15),
    "social": (0.18, 1.3),
    "referral": (0.12, 0.7),
    "email": (0.10, 0.95),
}
CHANNELS = ("web", "app", "store")
CHANNEL_HABITS = np.array([2.0, 1.4, 0.6])  # Dirichlet concentration per channel


@dataclass(frozen=True)
class CustomerPanel:
    """The customers table plus per-customer latent traits (index i = row i)."""

    frame: pd.DataFrame
    signup_day: np.ndarray  # float days since start
    segment: np.ndarray  # taste segment
    affinity: np.ndarray  # (n, n_categories) category preferences, rows sum to 1
    mean_gap: np.ndarray  # operational days between orders while alive
    dropout_p: np.ndarray  # chance of dropping out after each purchase
    decliner: np.ndarray  # bool: gaps stretch in the run-up to dropping out
    replenisher: np.ndarray  # bool: rebuys `staple_item` at a regular interval
    staple_item: np.ndarray  # item index, -1 if none
    never_buyer: np.ndarray  # bool
    channel_pref: np.ndarray  # (n, 3) over CHANNELS
    return_prop: np.ndarray  # chance that a line is returned

    @property
    def n(self) -> int:
        return len(self.signup_day)


def build_customers(
    config: ShopConfig, catalogue: Catalogue, rng: np.random.Generator
) -> CustomerPanel:
    """Draw every customer's attributes and latent behaviour."""
    n = config.n_customers
    n_cat = catalogue.n_categories
    signup_day = np.floor(rng.uniform(0, config.horizon_days - 14, n)) + time_of_day(rng, n)

    region = np.array(REGIONS)[rng.choice(len(REGIONS), n, p=REGION_SHARES)]
    age = np.clip(np.round(rng.normal(40, 13, n)), 18, 85)
    age[rng.random(n) < 0.03] = np.nan
    gender = np.array(GENDERS, dtype=object)[rng.choice(len(GENDERS), n, p=GENDER_SHARES)]
    gender[rng.random(n) < 0.04] = None
    acq_names = np.array(list(ACQUISITION))
    acq_share, acq_factor = np.array(list(ACQUISITION.values())).T
    acq = rng.choice(len(acq_names), n, p=acq_share / acq_share.sum())
    consent = rng.random(n) >= config.no_consent_share

    # taste: each segment focuses on a few categories; customers vary around their segment
    segment = rng.integers(0, config.n_segments, n)
    n_focus = min(3, n_cat)
    focus = np.zeros((config.n_segments, n_cat))
    for s in range(config.n_segments):
        focus[s, rng.choice(n_cat, n_focus, replace=False, p=catalogue.category_popularity)] = 1
    alpha = 0.15 + 2.0 * focus[segment]
    affinity = rng.gamma(alpha) + 1e-9
    affinity /= affinity.sum(axis=1, keepdims=True)

    # purchase rate (gamma) and dropout (Beta), nudged by who the customer is
    rate = rng.gamma(
        config.rate_shape, 1.0 / (config.rate_shape * config.mean_days_between_orders), n
    )
    mean_gap = np.clip(1.0 / rate, 3.0, 5_000.0)
    age_factor = np.exp(-(np.nan_to_num(age, nan=40.0) - 40.0) / 80.0)
    dropout_p = rng.beta(config.dropout_a, config.dropout_b, n) * acq_factor[acq] * age_factor
    dropout_p = np.clip(np.where(consent, dropout_p, dropout_p * 1.1), 0.005, 0.95)
    decliner = rng.random(n) < config.decliner_share

    replenisher = rng.random(n) < config.replenisher_share
    mean_gap = np.where(replenisher, np.clip(mean_gap, 14.0, 120.0), mean_gap)
    staple_item = np.full(n, -1)
    idx = np.flatnonzero(replenisher)
    if len(idx) and catalogue.consumable.any():
        consumable_aff = affinity[idx] * catalogue.consumable[None, :] + 1e-12
        consumable_aff /= consumable_aff.sum(axis=1, keepdims=True)
        cat = sample_rows(rng, consumable_aff, np.arange(len(idx)))
        staple_item[idx] = sample_rows(rng, catalogue.item_probs, segment[idx] * n_cat + cat)
    else:
        replenisher[:] = False

    channel_pref = rng.gamma(np.broadcast_to(CHANNEL_HABITS, (n, len(CHANNELS)))) + 1e-9
    channel_pref /= channel_pref.sum(axis=1, keepdims=True)
    a = 0.8
    return_prop = (
        rng.beta(a, a / config.return_rate - a, n) if config.return_rate > 0 else np.zeros(n)
    )

    width = max(6, len(str(n)))
    ids = np.strings.add("C", np.strings.zfill(np.arange(1, n + 1).astype(str), width))
    frame = pd.DataFrame(
        {
            C.CUSTOMER_ID: ids,
            C.SIGNED_UP_AT: to_timestamps(config, signup_day),
            C.REGION: region,
            C.AGE: age,
            C.GENDER: pd.array(gender, dtype="str"),
            C.ACQUISITION_CHANNEL: acq_names[acq],
            C.MARKETING_CONSENT: consent,
        }
    )
    return CustomerPanel(
        frame=frame,
        signup_day=signup_day,
        segment=segment,
        affinity=affinity,
        mean_gap=mean_gap,
        dropout_p=dropout_p,
        decliner=decliner,
        replenisher=replenisher,
        staple_item=staple_item,
        never_buyer=rng.random(n) < config.never_buyer_share,
        channel_pref=channel_pref,
        return_prop=return_prop,
    )


def to_timestamps(config: ShopConfig, days: np.ndarray) -> np.ndarray:
    """Float days since `config.start` -> naive datetime64[us], rounded to the second."""
    seconds = np.round(np.asarray(days, dtype=float) * 86_400).astype("int64")
    stamps = np.datetime64(config.start, "s") + seconds.astype("timedelta64[s]")
    return stamps.astype("datetime64[us]")
