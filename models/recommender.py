"""Repeat-aware recommender: own past items plus new candidates (`ranking/`), ranked by
LightGBM lambdarank or a decayed buy-it-again rule. One routine, `rank`, answers the endpoint,
the export and training's evaluation, so what is served is what was measured."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from churnrec import columns as C
from churnrec.models.base import DEFAULT_K, RecommenderModel, RetiredModelError
from churnrec.models.id_index import IdIndex
from churnrec.models.ranking.baskets import BasketLog, to_days
from churnrec.models.ranking.rank_features import (
    FEATURE_NAMES,
    SOURCE_BOUGHT_TOGETHER,
    SOURCE_POPULAR,
    SOURCE_POPULAR_IN_CATEGORY,
    SOURCE_PROMOTED,
    CandidateSettings,
    PairBlock,
    Sources,
    _Slots,
    build_pairs,
)
from churnrec.models.ranking.rules import Catalogue, Rules, allowed_items, category_cap
from churnrec.models.ranking.sources import cooccurrence, fit_als, item_stats

DEFAULT_EXCLUDE_PURCHASED = False  # the measured default: repeat + new items
KIND_REPEAT = "repeat"
KIND_NEW = "new"
RULE_STRATEGY = "decayed_buy_again"
RANK, SCORE, SOURCE, KIND = "rank", "score", "source", "kind"
TABLE_COLUMNS = (C.CUSTOMER_ID, RANK, C.ITEM_ID, SCORE, SOURCE, KIND)  # `rank`'s answer
LiveOrders = Sequence[tuple[float, Sequence[str]]]  # (day, item ids) of orders not yet stored
RETRAIN = "retrain the recommender (`churnrec train recommender`)"
# customers per block x items: bounds the dense score matrices, small enough that they stay in
# the CPU cache (2**20 ran faster than 2**22 and than 2**17 on the demo shop)
_BLOCK_CELLS = 2**20
_CONFIG = "config.json"
_IDS = "ids.json"
_ARRAYS = "arrays.npz"
_COOC = "cooccurrence.npz"
_BOOSTER = "reranker.txt"
_LOG_ARRAYS = ("order_ptr", "order_day", "line_ptr", "line_item", "guest_ptr", "guest_item")


def check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 1000:
        raise ValueError(f"k must be an integer from 1 to 1000, got {k!r}")


@dataclass(frozen=True)
class _Ask:
    """What one `rank` call asks of every block (resolved once per call)."""

    k: int
    exclude_purchased: bool
    allowed: np.ndarray  # bool per item: catalogue, category and item filters
    promoted: np.ndarray | None  # bool per item: promoted and allowed
    n_promo: int  # slots promoted items take
    cap: int | None  # max_per_category
    within_days: float | None  # exclude_bought_within_days
    fill_source: str
    cart_weight: float


class RankerConfig(BaseModel):
    """How candidates are generated and ranked; `model_dump()` is flat enough for log_params."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["reranker", "rule"] = "reranker"
    rule_decay: Literal[0.5, 0.8, 0.95] = 0.8
    n_model: int = Field(20, ge=0, le=500)
    n_bought_together: int = Field(20, ge=0, le=500)
    n_category: int = Field(10, ge=0, le=500)
    n_popular: int = Field(5, ge=0, le=500)
    max_repeat: int = Field(60, ge=1, le=1000)
    als_factors: int = Field(32, ge=1, le=1024)
    als_iterations: int = Field(15, ge=1, le=200)
    als_regularization: float = Field(0.05, ge=0.0)
    # ALS item factors from a sample of at most this many customers: bounds ALS time on big shops.
    als_max_customers: int = Field(100_000, ge=10)
    seed: int = 42

    @property
    def candidates(self) -> CandidateSettings:
        return CandidateSettings(
            **{f.name: getattr(self, f.name) for f in fields(CandidateSettings)}
        )


def fit_sources(
    lines: pd.DataFrame | BasketLog, items_table: pd.DataFrame | None, config: RankerConfig
) -> tuple[Sources, list[str]]:
    """(Item statistics, co-occurrence and ALS; category names) from lines or a basket log."""
    log = lines if isinstance(lines, BasketLog) else BasketLog.from_lines(lines)
    categories, codes = _category_codes(log.items, items_table)
    uf, itf = (None, None)
    if config.n_model > 0:
        uf, itf = fit_als(
            log,
            config.als_factors,
            config.als_iterations,
            config.als_regularization,
            config.seed,
            max_customers=config.als_max_customers,
        )
    return Sources(log, item_stats(log, codes), cooccurrence(log), uf, itf), categories


def _category_codes(items: IdIndex, table: pd.DataFrame | None) -> tuple[list[str], np.ndarray]:
    codes = np.full(len(items), -1, dtype=np.int64)
    if table is None or C.CATEGORY not in table.columns:
        return [], codes
    known = table.dropna(subset=[C.ITEM_ID, C.CATEGORY])
    names = sorted(known[C.CATEGORY].astype(str).unique())
    lookup = {n: i for i, n in enumerate(names)}
    idx = items.to_internal(known[C.ITEM_ID].astype(str), strict=False)
    ok = idx >= 0
    codes[idx[ok]] = [lookup[c] for c in known[C.CATEGORY].astype(str)[ok]]
    return names, codes


class Recommender(RecommenderModel):
    """Sources fitted on the history up to `as_of_day`, plus the ranking rule or model."""

    def __init__(
        self,
        config: RankerConfig,
        sources: Sources,
        categories: list[str],
        as_of_day: float,
        booster=None,
    ) -> None:
        if config.mode == "reranker" and booster is None:
            raise ValueError("mode 'reranker' needs a trained booster")
        self.config = config
        self.sources = sources
        self.categories = categories
        self.as_of_day = float(as_of_day)
        self.booster = booster
        self.cart_weight = 0.5  # set by training on validation baskets; saved with the model
        self._item_ids = sources.log.items.external_ids.astype(str)
        self._category_code = {n: i for i, n in enumerate(categories)}

    @classmethod
    def fit(
        cls,
        lines: pd.DataFrame | BasketLog,
        items_table: pd.DataFrame | None,
        config: RankerConfig,
        as_of: pd.Timestamp,
        booster=None,
    ) -> Recommender:
        """Fit the sources on lines or a basket log before `as_of`; the booster is training's."""
        sources, categories = fit_sources(lines, items_table, config)
        return cls(config, sources, categories, float(to_days(pd.Series([as_of]))[0]), booster)

    def known_customer(self, customer_id: str) -> bool:
        return self.sources.log.users.get(customer_id) is not None

    def known_item(self, item_id: str) -> bool:
        return self.sources.log.items.get(item_id) is not None

    def item_index(self, item_ids: Sequence[str]) -> np.ndarray:
        """Internal indices of the known ones among `item_ids` (unknown ones dropped)."""
        idx = self.sources.log.items.to_internal(list(item_ids), strict=False)
        return idx[idx >= 0]

    def score_pairs(self, pairs: PairBlock) -> np.ndarray:
        """Higher = better; the reranker's score or the rule's decayed count (+ popularity)."""
        if pairs.user.size == 0:
            return np.zeros(0)
        if self.config.mode == "reranker":
            return np.asarray(self.booster.predict(pairs.features, num_threads=1), dtype=np.float64)
        decay = str(self.config.rule_decay).replace(".", "_")
        col = FEATURE_NAMES.index(f"decayed_per_order_{decay}")
        pop = pairs.features[:, FEATURE_NAMES.index("item_popularity")].astype(np.float64)
        # repeat items first (by decayed count), new items after them by popularity
        return np.where(pairs.is_repeat, 1.0 + pairs.features[:, col], pop / (1.0 + pop))

    def rank(
        self,
        customer_ids: Sequence[str],
        k: int = DEFAULT_K,
        *,
        exclude_purchased: bool = DEFAULT_EXCLUDE_PURCHASED,
        category: str | None = None,
        carts: Sequence[Sequence[str]] | None = None,
        live_orders: Sequence[LiveOrders] | None = None,
        cart_weight: float | None = None,
        rules: Rules | None = None,
        catalogue: Catalogue | None = None,
    ) -> pd.DataFrame:
        """THE ranking routine: one run of top-k rows per input id, in input order; cart items
        are never returned, and `catalogue` and `rules` apply before the cut, so k items come
        back whenever k pass them."""
        check_k(k)
        ids = [str(c) for c in customer_ids]
        rules = Rules() if rules is None else rules
        allowed = self._allowed(category, rules, catalogue)
        if allowed is None:  # an unknown category: nothing to rank
            return pd.DataFrame({c: [] for c in TABLE_COLUMNS})
        n_promo = rules.promoted_slots(k)
        promoted = None
        if n_promo:
            promoted = np.zeros(len(self._item_ids), dtype=bool)
            promoted[self.item_index(rules.promoted_item_ids)] = True
            promoted &= allowed
        ask = _Ask(
            k=k,
            exclude_purchased=exclude_purchased,
            allowed=allowed,
            promoted=promoted,
            n_promo=n_promo,
            cap=rules.max_per_category,
            within_days=rules.exclude_bought_within_days,
            fill_source=SOURCE_POPULAR if category is None else SOURCE_POPULAR_IN_CATEGORY,
            cart_weight=self.cart_weight if cart_weight is None else cart_weight,
        )
        users = self.sources.log.users.to_internal(ids, strict=False)
        step = max(1, _BLOCK_CELLS // max(len(self._item_ids), 1))
        parts = []
        for start in range(0, len(ids), step):
            end = start + step
            user, item, score, source, repeat = self._rank_block(
                users[start:end],
                ask,
                None if carts is None else carts[start:end],
                None if live_orders is None else live_orders[start:end],
            )
            first = np.searchsorted(user, user)  # start of each customer's run
            parts.append(
                pd.DataFrame(
                    {
                        C.CUSTOMER_ID: np.asarray(ids[start:end], dtype=object)[user],
                        RANK: np.arange(user.size) - first + 1,
                        C.ITEM_ID: self._item_ids[item].astype(object),
                        SCORE: score,
                        SOURCE: source,
                        KIND: np.where(repeat, KIND_REPEAT, KIND_NEW).astype(object),
                    }
                )
            )
        if not parts:
            return pd.DataFrame({c: [] for c in TABLE_COLUMNS})
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

    def _recommend(
        self,
        customer_id: str,
        k: int = DEFAULT_K,
        *,
        exclude_purchased: bool = DEFAULT_EXCLUDE_PURCHASED,
        cart_item_ids: Sequence[str] | None = None,
        live_orders: LiveOrders | None = None,
        **options: Any,
    ) -> pd.DataFrame:
        """One customer's rows of `rank` (the HTTP call), with `rank`'s other options: the same
        routine and defaults as the batch."""
        return self.rank(
            [customer_id],
            k,
            exclude_purchased=exclude_purchased,
            carts=None if cart_item_ids is None else [cart_item_ids],
            live_orders=None if live_orders is None else [live_orders],
            **options,
        )

    def _allowed(
        self, category: str | None, rules: Rules, catalogue: Catalogue | None
    ) -> np.ndarray | None:
        """Bool per item that may be returned; None: an unknown category."""
        stats = self.sources.stats
        mask = allowed_items(
            rules, catalogue, self.sources.log.items, stats.category, self._category_code
        )
        if category is None:
            return mask
        code = self._category_code.get(category)
        return None if code is None else mask & (stats.category == code)

    def _rank_block(
        self,
        users: np.ndarray,
        ask: _Ask,
        carts: Sequence[Sequence[str]] | None,
        live_orders: Sequence[LiveOrders] | None,
    ) -> tuple[np.ndarray, ...]:
        """(position in block, item index, score, source, is_repeat) of each customer's top k,
        by customer, then rank: one model call per block; only customers left with fewer than
        k items are topped up with popular ones, one by one."""
        n, n_items, k = len(users), len(self._item_ids), ask.k
        cart_idx = None if carts is None else [self.item_index(c) for c in carts]
        extra, now = None, np.full(n, self.as_of_day)
        if live_orders is not None:
            extra = [
                [(day, idx) for day, its in orders if (idx := self.item_index(its)).size]
                for orders in live_orders
            ]
            now = np.array([max([self.as_of_day] + [d for d, _ in e]) for e in extra])
        blocked = None
        if ask.within_days is not None:  # bought within the last N days: not shown again
            lines = self.sources.log.block(users, now, extra)
            recent = lines.days_ago <= ask.within_days
            blocked = np.zeros((n, n_items), dtype=bool)
            blocked[lines.user[recent], lines.item[recent]] = True
        pairs = build_pairs(
            self.sources,
            users,
            now,
            settings=self.config.candidates,
            extra=extra,
            carts=cart_idx,
            exclude_purchased=ask.exclude_purchased,
            allowed=ask.allowed,
            blocked=blocked,
            forced=ask.promoted,
        )
        scores, sources = self.score_pairs(pairs), pairs.source
        has_cart = np.array([c.size > 0 for c in cart_idx or ()] or [False] * n, dtype=bool)
        if ask.cart_weight > 0 and has_cart.any() and pairs.user.size:
            w = ask.cart_weight
            cart = pairs.features[:, FEATURE_NAMES.index("cart_cooc_score")].astype(np.float64)
            blended = (1 - w) * _per_user_minmax(pairs.user, scores) + (
                w * _per_user_minmax(pairs.user, cart)
            )
            with_cart = has_cart[pairs.user]
            scores = np.where(with_cart, blended, scores)
            # a complement of the cart is named so, unless the customer buys it anyway
            complement = with_cart & (cart > 0) & ~pairs.is_repeat
            sources = np.where(complement, SOURCE_BOUGHT_TOGETHER, sources)
        category = self.sources.stats.category
        keep = category_cap(pairs.user, scores, category[pairs.item], ask.cap)
        top = np.zeros(0, dtype=np.int64)
        got = np.zeros(n, dtype=np.int64)
        if ask.n_promo:  # promoted items take their slots first, best first
            promo = np.flatnonzero(keep & ask.promoted[pairs.item])
            top = promo[_top_k_per_user(pairs.user[promo], scores[promo], ask.n_promo, n)]
            got = np.bincount(pairs.user[top], minlength=n)
            sources = np.asarray(sources, dtype=object).copy()
            sources[top] = SOURCE_PROMOTED
            keep &= ~ask.promoted[pairs.item]
        # nothing known about a customer (no history, live order or cart): plain popular fallback
        context = has_cart | np.array([bool(e) for e in extra or ()] or [False] * n, dtype=bool)
        keep &= ~((users < 0) & ~context)[pairs.user]
        rest = np.flatnonzero(keep)
        top = np.concatenate(
            [top, rest[_top_k_per_user(pairs.user[rest], scores[rest], k - got, n)]]
        )
        top = top[np.lexsort((-scores[top], pairs.user[top]))]
        block = [
            pairs.user[top],
            pairs.item[top],
            scores[top],
            np.asarray(sources[top], dtype=object),
            pairs.is_repeat[top],
        ]
        have = np.bincount(block[0], minlength=n)
        for b in np.flatnonzero(have < k).tolist():
            ok = ask.allowed.copy()
            mine = block[1][block[0] == b]
            ok[mine] = False
            if ask.promoted is not None:
                ok &= ~ask.promoted
            if cart_idx is not None:
                ok[cart_idx[b]] = False
            if blocked is not None:
                ok &= ~blocked[b]
            if ask.exclude_purchased:  # everything the customer bought, stored or live
                mine_extra = None if extra is None else [extra[b]]
                ok[self.sources.log.block(users[b : b + 1], 0.0, mine_extra).item] = False
            fill = self._popular_fill(k - int(have[b]), ok, ask.cap, mine)
            add = (b, fill, self.sources.stats.popularity[fill], ask.fill_source, False)
            block = [
                np.concatenate([old, np.broadcast_to(np.asarray(new, dtype=old.dtype), fill.shape)])
                for old, new in zip(block, add, strict=True)
            ]
        order = np.argsort(block[0], kind="stable")  # fills land after the customer's own
        return tuple(values[order] for values in block)

    def _popular_fill(
        self, n: int, ok: np.ndarray, cap: int | None, taken: np.ndarray
    ) -> np.ndarray:
        """The n most popular items with `ok`, at most `cap` per category counting `taken`."""
        stats = self.sources.stats
        order = stats.popular_order[ok[stats.popular_order]]
        if cap is None:
            return order[:n].astype(np.int64)
        counts = np.bincount(stats.category[taken][stats.category[taken] >= 0], minlength=1)
        counts = np.pad(counts, (0, max(stats.n_categories - counts.size, 0)))
        out: list[int] = []
        for i in order.tolist():
            c = int(stats.category[i])
            if c >= 0 and counts[c] >= cap:
                continue
            out.append(i)
            if c >= 0:
                counts[c] += 1
            if len(out) == n:
                break
        return np.asarray(out, dtype=np.int64)

    def similar_items(
        self,
        item_id: str,
        k: int = DEFAULT_K,
        *,
        rules: Rules | None = None,
        catalogue: Catalogue | None = None,
    ) -> pd.DataFrame:
        """Items most often bought together with this one (`TABLE_COLUMNS` but the customer, best
        first); popular ones (in its category) if it is unknown or never bought with anything.
        The catalogue and the item-level rules apply before the cut."""
        check_k(k)
        rules = Rules() if rules is None else rules
        item = self.sources.log.items.get(item_id)
        stats = self.sources.stats
        ok = self._allowed(None, rules, catalogue).copy()
        cap = rules.max_per_category
        picked = np.zeros(0, dtype=np.int64)
        score = np.zeros(0)
        if item is not None:
            ok[item] = False
            row = self.sources.cooc.getrow(item)
            idx, data = row.indices[ok[row.indices]], row.data[ok[row.indices]]
            order = np.lexsort((idx, -data))
            idx, data = idx[order], data[order].astype(np.float64)
            capped = category_cap(np.zeros(idx.size, np.int64), data, stats.category[idx], cap)
            picked, score = idx[capped][:k].astype(np.int64), data[capped][:k]
        n_model = picked.size
        source = SOURCE_POPULAR
        if item is not None and stats.category[item] >= 0:
            ok &= stats.category == stats.category[item]
            source = SOURCE_POPULAR_IN_CATEGORY
        ok[picked] = False
        fill = self._popular_fill(k - n_model, ok, cap, picked)
        picked = np.concatenate([picked, fill])
        return pd.DataFrame(
            {
                RANK: np.arange(1, picked.size + 1),
                C.ITEM_ID: self._item_ids[picked].astype(object),
                SCORE: np.concatenate([score, stats.popularity[fill]]),
                SOURCE: [SOURCE_BOUGHT_TOGETHER] * n_model + [source] * fill.size,
                KIND: [KIND_NEW] * picked.size,
            }
        )

    def _save(self, path: Path) -> None:
        """Folder of JSON, npz and LightGBM's text model; no pickle."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {
            "config": self.config.model_dump(),
            "as_of_day": self.as_of_day,
            "cart_weight": self.cart_weight,
            "categories": self.categories,
        }
        (path / _CONFIG).write_text(json.dumps(meta, indent=2))
        log, stats = self.sources.log, self.sources.stats
        (path / _IDS).write_text(
            json.dumps({"customers": log.users.to_list(), "items": log.items.to_list()})
        )
        arrays = {name: getattr(log, name) for name in _LOG_ARRAYS} | {"category": stats.category}
        if self.sources.user_factors is not None:
            arrays["user_factors"] = self.sources.user_factors
            arrays["item_factors"] = self.sources.item_factors
        np.savez(path / _ARRAYS, **arrays)
        sp.save_npz(path / _COOC, self.sources.cooc)
        if self.booster is not None:
            self.booster.save_model(str(path / _BOOSTER))

    @classmethod
    def _load(cls, path: Path) -> Recommender:
        path = Path(path)
        if (path / "factors.npz").exists() and not (path / _ARRAYS).exists():
            raise RetiredModelError(
                f"{path} holds an ALS-only recommender of churnrec before 0.2, which this "
                f"version no longer serves; {RETRAIN}"
            )
        for name in (_CONFIG, _IDS, _ARRAYS, _COOC):
            if not (path / name).exists():
                raise FileNotFoundError(f"recommender folder {path} lacks {name}")
        meta = json.loads((path / _CONFIG).read_text())
        config = RankerConfig.model_validate(meta["config"])
        ids = json.loads((path / _IDS).read_text())
        with np.load(path / _ARRAYS) as z:
            arrays = {key: z[key] for key in z.files}
        log = BasketLog(
            IdIndex(ids["customers"]),
            IdIndex(ids["items"]),
            # versions saved before guest baskets were kept have none: the defaults
            **{name: arrays[name] for name in _LOG_ARRAYS if name in arrays},
        )
        if (
            log.order_ptr.size != len(log.users) + 1
            or log.line_ptr[-1] != log.line_item.size
            or log.guest_ptr[-1] != log.guest_item.size
        ):
            raise ValueError(f"{path / _ARRAYS} does not match the ids in {path / _IDS}")
        sources = Sources(
            log,
            item_stats(log, arrays["category"]),
            sp.load_npz(path / _COOC).tocsr(),
            arrays.get("user_factors"),
            arrays.get("item_factors"),
        )
        booster = None
        if (path / _BOOSTER).exists():
            import lightgbm as lgb

            booster = lgb.Booster(model_file=str(path / _BOOSTER))
        model = cls(config, sources, list(meta["categories"]), meta["as_of_day"], booster)
        model.cart_weight = float(meta.get("cart_weight", 0.5))
        return model


def _per_user_minmax(user: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Scale values to [0, 1] within each customer's candidates."""
    n = int(user.max()) + 1 if user.size else 0
    lo = np.full(n, np.inf)
    hi = np.full(n, -np.inf)
    np.minimum.at(lo, user, values)
    np.maximum.at(hi, user, values)
    span = (hi - lo)[user]
    return np.divide(values - lo[user], span, out=np.zeros_like(values), where=span > 0)


def _top_k_per_user(
    user: np.ndarray, scores: np.ndarray, k: int | np.ndarray, n: int
) -> np.ndarray:
    """Indices of each customer's k best pairs (k: one, or one per customer), best first,
    customers in order; ties keep the pairs' order (ascending item, as `build_pairs` emits).
    The same grid sort as the rank features (`_Slots`)."""
    if user.size == 0:
        return np.zeros(0, dtype=np.int64)
    slots = _Slots(user, n)
    k = np.broadcast_to(np.asarray(k, dtype=np.int64), (n,))
    order = slots.order_desc(scores)[:, : max(int(k.max()), 0)]
    taken = np.arange(order.shape[1])[None, :] < np.minimum(slots.counts, k)[:, None]
    return (slots.start[:, None] + order)[taken]
