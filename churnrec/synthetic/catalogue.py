"""The item catalogue: Zipf-like popularity per category, tilted per taste segment, so "people
like you bought" carries information that global popularity lacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from churnrec import columns as C

if TYPE_CHECKING:
    from churnrec.synthetic.config import ShopConfig


@dataclass(frozen=True)
class CategorySpec:
    name: str
    median_price: float
    consumable: bool  # bought again and again (coffee, pet food), not once (a lamp)


# Ordered so that the first 15 (the default) mix consumables and durables.
CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec("coffee_tea", 14.0, True),
    CategorySpec("apparel", 38.0, False),
    CategorySpec("electronics", 120.0, False),
    CategorySpec("pet_food", 28.0, True),
    CategorySpec("books", 16.0, False),
    CategorySpec("home_decor", 42.0, False),
    CategorySpec("skincare", 22.0, True),
    CategorySpec("kitchen", 35.0, False),
    CategorySpec("toys", 27.0, False),
    CategorySpec("vitamins", 19.0, True),
    CategorySpec("sports", 48.0, False),
    CategorySpec("shoes", 75.0, False),
    CategorySpec("cleaning", 9.0, True),
    CategorySpec("garden", 33.0, False),
    CategorySpec("stationery", 8.0, False),
    CategorySpec("snacks", 6.0, True),
    CategorySpec("jewelry", 65.0, False),
    CategorySpec("baby", 24.0, True),
    CategorySpec("tools", 55.0, False),
    CategorySpec("music", 18.0, False),
)
MAX_CATEGORIES = len(CATEGORIES)

# brand names are every head + tail ("Norda", "Velwood", ...)
_BRAND_HEADS = (
    "Nor Vel Ast Bri Cal Dun Eld Fen Gal Hol Ivo Jun Kel Lum Mar Nyx Orb Pax Quo Ros Sol Tor Uma "
    "Vor"
)
_BRAND_TAILS = "da to ix ora en is ana ex io une ark wood line ford ly co"


@dataclass(frozen=True)
class Catalogue:
    """Items plus the latent tables the order and event simulators draw from."""

    item_ids: np.ndarray  # str, "I00001" ...
    category: np.ndarray  # category index per item
    categories: tuple[CategorySpec, ...]
    brand: np.ndarray  # str per item
    price: np.ndarray  # float per item
    category_popularity: np.ndarray  # (n_categories,) sums to 1
    # P(item | segment, category): row segment * n_categories + category, (S*K, n_items)
    item_probs: np.ndarray

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_categories(self) -> int:
        return len(self.categories)

    @property
    def consumable(self) -> np.ndarray:
        """Bool per category."""
        return np.array([c.consumable for c in self.categories])

    def frame(self) -> pd.DataFrame:
        """The items table as a shop would export it."""
        names = np.array([c.name for c in self.categories])
        return pd.DataFrame(
            {
                C.ITEM_ID: self.item_ids,
                C.CATEGORY: names[self.category],
                C.BRAND: self.brand,
                C.PRICE: self.price,
            }
        )


def build_catalogue(config: ShopConfig, rng: np.random.Generator) -> Catalogue:
    """Random catalogue: category sizes, Zipf popularity per category, brands, prices."""
    n_items, n_categories, n_segments = config.n_items, config.n_categories, config.n_segments
    cats = CATEGORIES[:n_categories]
    sizes = 2 + rng.multinomial(
        n_items - 2 * n_categories, rng.dirichlet(np.full(n_categories, 3.0))
    )
    category = rng.permutation(np.repeat(np.arange(n_categories), sizes))  # ids hide category

    # Zipf rank within category, in random order so popular items are scattered over ids.
    rank = np.empty(n_items)
    for k in range(n_categories):
        members = np.flatnonzero(category == k)
        rank[members] = rng.permutation(len(members)) + 1
    popularity = rank**-config.popularity_exponent

    brand = _assign_brands(rng, category, rank, n_categories)
    medians = np.array([c.median_price for c in cats])
    raw = medians[category] * np.exp(rng.normal(0.0, 0.5, n_items))
    price = np.maximum(np.round(raw) - 0.01, 0.99)

    tilt = np.exp(rng.normal(0.0, 0.8, (n_segments, n_items)))
    weights = popularity * tilt  # (S, N)
    member = category[None, :] == np.arange(n_categories)[:, None]  # (K, N)
    item_probs = (weights[:, None, :] * member[None, :, :]).reshape(n_segments * n_categories, -1)
    item_probs /= item_probs.sum(axis=1, keepdims=True)

    width = max(5, len(str(n_items)))
    item_ids = np.strings.add("I", np.strings.zfill(np.arange(1, n_items + 1).astype(str), width))
    return Catalogue(
        item_ids=item_ids,
        category=category,
        categories=cats,
        brand=brand,
        price=price,
        category_popularity=rng.dirichlet(np.full(n_categories, 2.0)),
        item_probs=item_probs,
    )


def _assign_brands(
    rng: np.random.Generator, category: np.ndarray, rank: np.ndarray, n_categories: int
) -> np.ndarray:
    """A handful of brands per category, the popular items going mostly to the big brands."""
    pool = np.array([h + t for h in _BRAND_HEADS.split() for t in _BRAND_TAILS.split()])
    brand = np.empty(len(category), dtype=object)
    for k in range(n_categories):
        members = np.flatnonzero(category == k)
        n_brands = max(2, round(len(members) / 6))
        names = rng.choice(pool, size=n_brands, replace=n_brands > len(pool))
        share = 1.0 / np.arange(1, n_brands + 1)
        picks = rng.choice(n_brands, size=len(members), p=share / share.sum())
        # the most popular item in a category belongs to its biggest brand
        picks[rank[members] == 1] = 0
        brand[members] = names[picks]
    return brand.astype(str)
