"""Candidates and point-in-time features per (customer, item) for a block of customers: one
function for training, evaluation, the endpoint and the export, so what is measured is served;
it reads only orders before `now` (plus live ones), so nothing after the cut-off leaks in."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from churnrec.models.ranking.baskets import BasketLog, CustomerLines
from churnrec.models.ranking.sources import CONTEXT_ORDERS, ItemStats

SOURCE_BUY_AGAIN = "buy_again"
SOURCE_MODEL = "model"
SOURCE_BOUGHT_TOGETHER = "bought_together"
SOURCE_POPULAR_IN_CATEGORY = "popular_in_category"
SOURCE_POPULAR = "popular"
SOURCE_PROMOTED = "promoted"
EXPLORE_SOURCES = (
    SOURCE_MODEL,
    SOURCE_BOUGHT_TOGETHER,
    SOURCE_POPULAR_IN_CATEGORY,
    SOURCE_POPULAR,
    SOURCE_PROMOTED,
)

FEATURE_NAMES = (
    "is_repeat",
    "n_orders_with_item",
    "share_of_orders_with_item",
    "decayed_per_order_0_5",
    "decayed_per_order_0_8",
    "decayed_per_order_0_95",
    "decayed_per_day_30",
    "decayed_per_day_120",
    "in_last_1_orders",
    "in_last_3_orders",
    "in_last_5_orders",
    "orders_since_last_bought",
    "days_since_last_bought",
    "usual_item_interval_days",
    "gap_over_usual_interval",
    "item_popularity",
    "item_repeat_rate",
    "customer_n_orders",
    "customer_basket_size",
    "customer_reorder_rate",
    "customer_days_since_last_order",
    "customer_mean_gap_days",
    "customer_category_share",
    "als_score",
    "als_rank",
    "cooc_score",
    "cooc_rank",
    "category_pop_score",
    "category_pop_rank",
    "cart_cooc_score",
)

# The per-(customer, item) sums `_pair_aggregates` names after their feature, in feature order.
_PAIR_SUMS = tuple(n for n in FEATURE_NAMES if n.startswith(("decayed_", "in_last_")))


@dataclass(frozen=True)
class Sources:
    """Everything candidate generation needs, fitted on one log."""

    log: BasketLog
    stats: ItemStats
    cooc: sp.csr_matrix  # items x items
    user_factors: np.ndarray | None  # rows follow log.users
    item_factors: np.ndarray | None

    @cached_property
    def cooc_t(self) -> sp.csr_matrix:
        """cooc transposed, as CSR: context sums use it (made once, not per block)."""
        return self.cooc.T.tocsr()


@dataclass(frozen=True)
class CandidateSettings:
    n_model: int = 20
    n_bought_together: int = 20
    n_category: int = 10
    n_popular: int = 5
    max_repeat: int = 60


@dataclass(frozen=True)
class PairBlock:
    user: np.ndarray  # position in the block
    item: np.ndarray  # item index
    is_repeat: np.ndarray  # bool
    source: np.ndarray  # object: one of the SOURCE_* names
    features: np.ndarray  # float32, n_pairs x len(FEATURE_NAMES)


def build_pairs(
    sources: Sources,
    users: np.ndarray,
    now: float | np.ndarray,
    *,
    settings: CandidateSettings = CandidateSettings(),
    extra: list[list[tuple[float, np.ndarray]]] | None = None,
    carts: list[np.ndarray] | None = None,
    exclude_purchased: bool = False,
    allowed: np.ndarray | None = None,
    blocked: np.ndarray | None = None,
    forced: np.ndarray | None = None,
) -> PairBlock:
    """Candidates and features for `users` (-1 = no stored history) at `now`, with live orders
    (`extra`) and carts as context; `allowed` (per item) and `blocked` (customers x items) take
    items out, `forced` (per item, e.g. promoted) adds them to everyone's candidates."""
    log, stats = sources.log, sources.stats
    n_items = len(log.items)
    n = len(users)
    lines = log.block(users, now, extra)
    key, agg = _pair_aggregates(lines, n_items)
    agg_user, agg_item = np.divmod(key, n_items)
    bought = np.zeros((n, n_items), dtype=bool)
    bought[agg_user, agg_item] = True
    cart_mask = np.zeros((n, n_items), dtype=bool)
    if carts is not None:
        for b, cart in enumerate(carts):
            cart_mask[b, np.asarray(cart, dtype=np.int64)] = True

    als = _als_scores(sources, users)
    cooc = _context_scores(sources.cooc_t, lines, n)
    cart_cooc = _cart_scores(sources.cooc_t, carts, n)
    user_cat = _user_category_share(lines, stats, n)
    cat_pop = (
        user_cat[:, np.maximum(stats.category, 0)] * stats.within_category[None, :]
        if stats.n_categories
        else np.zeros((n, n_items))
    )
    blocked = cart_mask if blocked is None else cart_mask | blocked
    if allowed is not None:
        blocked |= ~allowed[None, :]
    new_ok = ~(bought | blocked)
    selected = np.zeros((n, n_items), dtype=np.int8)  # 0 none, else source code + 1
    codes = {name: c + 1 for c, name in enumerate(EXPLORE_SOURCES)}
    if not exclude_purchased:
        rep_score = np.full((n, n_items), -np.inf)
        rep_score[agg_user, agg_item] = agg["decayed_per_order_0_8"]
        rep_score[~(bought & ~blocked)] = -np.inf
        selected[_top_mask(rep_score, settings.max_repeat)] = -1
    # popular items: the same order for everyone, so no per-row sort
    popular = _first_in_order(new_ok, stats.popular_order, settings.n_popular)
    selected[popular & (selected >= 0)] = codes[SOURCE_POPULAR]
    for name, score, top in (
        (SOURCE_POPULAR_IN_CATEGORY, cat_pop, settings.n_category),
        (SOURCE_MODEL, als, settings.n_model),
        (
            SOURCE_BOUGHT_TOGETHER,
            cooc if cart_cooc is None else np.maximum(cooc, cart_cooc),
            settings.n_bought_together,
        ),
    ):
        s = np.where(new_ok & (score > 0), score, -np.inf)  # nan > 0 is False
        selected[_top_mask(s, top) & (selected >= 0)] = codes[name]
    if forced is not None:
        selected[(selected == 0) & forced[None, :] & ~blocked] = codes[SOURCE_PROMOTED]
    pu, pi = np.nonzero(selected)
    code = selected[pu, pi]
    source = np.where(
        code < 0,
        SOURCE_BUY_AGAIN,
        np.asarray(EXPLORE_SOURCES, dtype=object)[np.maximum(code, 1) - 1],
    ).astype(object)

    pair_key = pu.astype(np.int64) * n_items + pi
    pos = np.minimum(np.searchsorted(key, pair_key), max(key.size - 1, 0))
    hit = key[pos] == pair_key if key.size else np.zeros(pu.size, dtype=bool)

    def pair(values: np.ndarray, missing: float = 0.0) -> np.ndarray:
        return np.where(hit, values[pos], missing) if values.size else np.full(pu.size, missing)

    n_with = pair(agg["count"])
    n_orders_u = lines.n_orders[pu].astype(np.float64)
    last_days = pair(agg["min_days"], np.nan)
    first_days = pair(agg["max_days"], np.nan)
    interval = np.where(n_with >= 2, (first_days - last_days) / np.maximum(n_with - 1, 1), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap_ratio = last_days / interval
        share = n_with / np.maximum(n_orders_u, 1)
    per_user_lines = np.bincount(lines.user, minlength=n).astype(np.float64)
    distinct = np.bincount(agg_user, minlength=n).astype(np.float64)
    basket = np.divide(per_user_lines, lines.n_orders, out=np.zeros(n), where=lines.n_orders > 0)
    reorder = np.divide(
        per_user_lines - distinct, per_user_lines, out=np.zeros(n), where=per_user_lines > 0
    )
    span = lines.first_order_days_ago - lines.last_order_days_ago
    mean_gap = np.where(lines.n_orders >= 2, span / np.maximum(lines.n_orders - 1, 1), np.nan)
    slots = _Slots(pu, n)
    als_p, cooc_p, cat_p = als[pu, pi], cooc[pu, pi], cat_pop[pu, pi]
    columns = (
        hit,
        n_with,
        share,
        *(pair(agg[name]) for name in _PAIR_SUMS),
        pair(agg["min_ago"], np.nan),
        last_days,
        interval,
        gap_ratio,
        stats.popularity[pi],
        stats.repeat_rate[pi],
        n_orders_u,
        basket[pu],
        reorder[pu],
        lines.last_order_days_ago[pu],
        mean_gap[pu],
        user_cat[pu, np.maximum(stats.category[pi], 0)]
        if stats.n_categories
        else np.zeros(pu.size),
        als_p,
        slots.rank_desc(als_p),
        cooc_p,
        slots.rank_desc(cooc_p),
        cat_p,
        slots.rank_desc(cat_p),
        np.zeros(pu.size) if cart_cooc is None else cart_cooc[pu, pi],
    )
    # one float32 matrix filled column by column (no float64 stack to copy and cast)
    feats = np.empty((pu.size, len(FEATURE_NAMES)), dtype=np.float32)
    for j, values in enumerate(columns):
        feats[:, j] = values
    return PairBlock(
        user=pu,
        item=pi.astype(np.int64),
        is_repeat=hit,
        source=source,
        features=feats,
    )


def _pair_aggregates(
    lines: CustomerLines, n_items: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(sorted keys user * n_items + item, per-key sums and extremes by name); the decays and
    `in_last_*` counts carry their feature's name."""
    keys = lines.user.astype(np.int64) * n_items + lines.item
    uniq, inv = np.unique(keys, return_inverse=True)
    ago = lines.orders_ago.astype(np.float64)
    days = lines.days_ago
    weights = {
        "count": np.ones(ago.size),
        **{f"decayed_per_order_{str(d).replace('.', '_')}": d**ago for d in (0.5, 0.8, 0.95)},
        **{f"decayed_per_day_{h}": np.exp(-np.maximum(days, 0) / h) for h in (30, 120)},
        **{f"in_last_{k}_orders": (ago < k).astype(np.float64) for k in (1, 3, 5)},
    }
    agg = {name: np.bincount(inv, weights=w, minlength=uniq.size) for name, w in weights.items()}
    for name, values, extreme in (
        ("min_ago", ago, np.minimum),
        ("min_days", days, np.minimum),
        ("max_days", days, np.maximum),
    ):
        agg[name] = np.full(uniq.size, np.inf if extreme is np.minimum else -np.inf)
        extreme.at(agg[name], inv, values)
    return uniq, agg


def _als_scores(sources: Sources, users: np.ndarray) -> np.ndarray:
    """float32 (the factors' precision: half the memory to select from, same values)."""
    n, n_items = len(users), len(sources.log.items)
    if sources.user_factors is None or sources.item_factors is None:
        return np.full((n, n_items), np.nan, dtype=np.float32)
    users = np.asarray(users)
    item_t = sources.item_factors.T.astype(np.float32)
    if (users >= 0).all():
        return sources.user_factors[users].astype(np.float32) @ item_t
    out = np.full((n, n_items), np.nan, dtype=np.float32)
    known = np.flatnonzero(users >= 0)
    out[known] = sources.user_factors[users[known]].astype(np.float32) @ item_t
    return out


def _context_scores(cooc_t: sp.csr_matrix, lines: CustomerLines, n: int) -> np.ndarray:
    """Co-occurrence summed over the items of each customer's latest orders (newer weigh more)."""
    recent = lines.orders_ago < CONTEXT_ORDERS
    weights = 1.0 / (1.0 + lines.orders_ago[recent])
    return _dense_context(cooc_t, lines.user[recent], lines.item[recent], weights, n)


def _cart_scores(
    cooc_t: sp.csr_matrix, carts: list[np.ndarray] | None, n: int
) -> np.ndarray | None:
    """Co-occurrence with each customer's cart; None when no customer has a cart (all zero)."""
    if not carts or not any(len(c) for c in carts):
        return None
    rows = np.concatenate([np.full(len(c), b) for b, c in enumerate(carts)]).astype(np.int64)
    cols = np.concatenate([np.asarray(c, dtype=np.int64) for c in carts])
    return _dense_context(cooc_t, rows, cols, np.ones(rows.size), n)


def _dense_context(
    cooc_t: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, n: int
) -> np.ndarray:
    """(n x items) weights @ cooc.T, sparse: a customer costs what its few context items touch,
    not the whole matrix (.T keeps the summation order of the earlier dense cooc @ ctx.T)."""
    n_items = cooc_t.shape[0]
    ctx = sp.csr_matrix(
        (np.asarray(weights, dtype=np.float64), (rows.astype(np.int64), cols.astype(np.int64))),
        shape=(n, n_items),
    )
    return (ctx @ cooc_t).toarray()


def _user_category_share(lines: CustomerLines, stats: ItemStats, n: int) -> np.ndarray:
    n_cat = max(stats.n_categories, 1)
    cat = stats.category[lines.item]
    ok = cat >= 0
    counts = np.zeros((n, n_cat))
    np.add.at(counts, (lines.user[ok], cat[ok]), 1.0)
    total = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)


def _first_in_order(ok: np.ndarray, order: np.ndarray, k: int) -> np.ndarray:
    """Bool mask of each row's first k allowed items in one shared `order` (e.g. most popular
    first, ties by item index)."""
    n, m = ok.shape
    mask = np.zeros((n, m), dtype=bool)
    if k <= 0 or n == 0 or m == 0:
        return mask
    # a row's first k allowed items lie within its first k + (disallowed count) in order
    width = min(m, k + int((~ok).sum(axis=1).max()))
    head = order[:width]
    allowed = ok[:, head]
    mask[:, head] = allowed & (np.cumsum(allowed, axis=1) <= k)
    return mask


def _top_mask(scores: np.ndarray, k: int) -> np.ndarray:
    """Bool mask of each row's k highest finite scores; only rows with more than k need a
    partial sort."""
    n, m = scores.shape
    if k <= 0 or m == 0 or n == 0:
        return np.zeros((n, m), dtype=bool)
    mask = np.isfinite(scores)
    if k >= m:
        return mask
    crowded = np.flatnonzero(mask.sum(axis=1) > k)
    if crowded.size == 0:
        return mask
    sub = scores[crowded]
    top = np.argpartition(-sub, k - 1, axis=1)[:, :k]
    rows = np.repeat(np.arange(crowded.size), k)
    cols = top.ravel()
    ok = np.isfinite(sub[rows, cols])
    keep = np.zeros(sub.shape, dtype=bool)
    keep[rows[ok], cols[ok]] = True
    mask[crowded] = keep
    return mask


class _Slots:
    """Pairs (grouped by customer, as `np.nonzero` gives them) in a dense (customers x most
    candidates) grid, so per-customer sorts are row sorts, not one global sort."""

    def __init__(self, user: np.ndarray, n: int) -> None:
        self.counts = np.bincount(user, minlength=n)
        self.start = np.cumsum(self.counts) - self.counts
        self.user = user
        self.slot = np.arange(user.size) - self.start[user]
        self.width = int(self.counts.max()) if user.size else 0
        self.n = n

    def grid(self, values: np.ndarray, fill: float) -> np.ndarray:
        out = np.full((self.n, self.width), fill, dtype=np.float64)
        out[self.user, self.slot] = values
        return out

    def order_desc(self, score: np.ndarray) -> np.ndarray:
        """Per customer, slot positions by score, highest first; ties keep item order (nan and
        -inf last)."""
        s = np.where(np.isfinite(score), score, -np.inf)
        grid = self.grid(-s, np.inf)  # empty slots after every real candidate
        return np.argsort(grid, axis=1, kind="stable")

    def rank_desc(self, score: np.ndarray) -> np.ndarray:
        """1-based rank of each pair's score among its customer's candidates (nan -> last)."""
        if self.user.size == 0:
            return np.zeros(0)
        order = self.order_desc(score)
        rank = np.empty_like(order)
        rows = np.arange(self.n)[:, None]
        rank[rows, order] = np.arange(1, self.width + 1)[None, :]
        return rank[self.user, self.slot]
