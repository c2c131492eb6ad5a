"""Repeat-aware recommender: own past items plus explore candidates, ranked by a learned model.

Candidates per customer: every item they bought before (`buy_again`, flagged `repeat`) and
items new to them from ALS (`model`), basket co-occurrence with their latest orders or cart
(`bought_together`), their categories (`popular_in_category`) and overall popularity
(`popular`). Each (customer, item) gets point-in-time features
(`ranking/rank_features.py`) and is scored by

- `mode="reranker"`: a LightGBM lambdarank model trained on earlier cut-offs; or
- `mode="rule"`: decayed buy-it-again (orders containing the item, each weighted
  `rule_decay ** orders_ago`; ties: more recent first), then the most popular new items.
  Served when the reranker does not beat this rule on the validation window.

One ranking routine, `rank` (many customers -> one table: `TABLE_COLUMNS`), behind
`/recommendations` (through `recommend`, one customer), the batch export and training's
evaluation, with the same defaults (`DEFAULT_EXCLUDE_PURCHASED`): what is served is what was
measured. ALS is one candidate source (and, alone, a training baseline: `ranking.sources`). A
customer without any history or live event gets `popular` (or `popular_in_category`) items:
the documented fallback.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from churnrec import columns as C
from churnrec.models.base import DEFAULT_K, RecommenderModel, RetiredModelError
from churnrec.models.id_index import IdIndex
from churnrec.models.popularity import check_k
from churnrec.models.ranking.baskets import BasketLog, to_days
from churnrec.models.ranking.rank_features import (
    FEATURE_NAMES,
    SOURCE_BOUGHT_TOGETHER,
    SOURCE_POPULAR,
    SOURCE_POPULAR_IN_CATEGORY,
    CandidateSettings,
    PairBlock,
    Sources,
    build_pairs,
)
from churnrec.models.ranking.sources import cooccurrence, fit_als, item_stats

DEFAULT_EXCLUDE_PURCHASED = False  # the measured default: repeat + new items
KIND_REPEAT = "repeat"
KIND_NEW = "new"
RULE_STRATEGY = "decayed_buy_again"
RANK, SCORE, SOURCE, KIND = "rank", "score", "source", "kind"
TABLE_COLUMNS = (C.CUSTOMER_ID, RANK, C.ITEM_ID, SCORE, SOURCE, KIND)  # `rank`'s answer
ITEM_COLUMNS = (RANK, C.ITEM_ID, SCORE, SOURCE, KIND)  # `similar_items`' answer
LiveOrders = Sequence[tuple[float, Sequence[str]]]  # (day, item ids) of orders not yet stored
RETRAIN = "retrain the recommender (`churnrec train recommender`)"
_RULE_FEATURE = {
    0.5: "decayed_per_order_0_5",
    0.8: "decayed_per_order_0_8",
    0.95: "decayed_per_order_0_95",
}
# customers per block x items: bounds the dense score matrices, small enough that they stay in
# the CPU cache (2**20 ran faster than 2**22 and than 2**17 on the demo shop)
_BLOCK_CELLS = 2**20
_CONFIG = "config.json"
_IDS = "ids.json"
_ARRAYS = "arrays.npz"
_COOC = "cooccurrence.npz"
_BOOSTER = "reranker.txt"


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
    # ALS item factors from at most this many customers (sampled); everyone's own factors are
    # then solved against them. Bounds the ALS time at every cut-off of a large shop.
    als_max_customers: int = Field(100_000, ge=10)
    seed: int = 42

    @property
    def candidates(self) -> CandidateSettings:
        return CandidateSettings(
            n_model=self.n_model,
            n_bought_together=self.n_bought_together,
            n_category=self.n_category,
            n_popular=self.n_popular,
            max_repeat=self.max_repeat,
        )


def fit_sources(
    lines: pd.DataFrame, items_table: pd.DataFrame | None, config: RankerConfig
) -> tuple[Sources, list[str]]:
    """Basket log, item statistics, co-occurrence and ALS from order lines; + category names."""
    return fit_sources_on_log(BasketLog.from_lines(lines), items_table, config)


def fit_sources_on_log(
    log: BasketLog, items_table: pd.DataFrame | None, config: RankerConfig
) -> tuple[Sources, list[str]]:
    """Item statistics, co-occurrence and ALS from a basket log; + category names."""
    categories, codes = _category_codes(log.items, items_table)
    stats = item_stats(log, codes)
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
    return Sources(log, stats, cooccurrence(log), uf, itf), categories


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
        lines: pd.DataFrame,
        items_table: pd.DataFrame | None,
        config: RankerConfig,
        as_of: pd.Timestamp,
        booster=None,
    ) -> Recommender:
        """Fit the sources on `lines` (all before `as_of`); the booster comes from training."""
        sources, categories = fit_sources(lines, items_table, config)
        return cls(config, sources, categories, float(to_days(pd.Series([as_of]))[0]), booster)

    @classmethod
    def fit_log(
        cls,
        log: BasketLog,
        items_table: pd.DataFrame | None,
        config: RankerConfig,
        as_of: pd.Timestamp,
        booster=None,
    ) -> Recommender:
        """`fit` from a basket log already built (e.g. `EncodedLines.log_before(as_of)`)."""
        sources, categories = fit_sources_on_log(log, items_table, config)
        return cls(config, sources, categories, float(to_days(pd.Series([as_of]))[0]), booster)

    @property
    def is_baseline(self) -> bool:
        return self.config.mode == "rule"

    # --- what the model knows -------------------------------------------------------------------
    def known_customer(self, customer_id: str) -> bool:
        return self.sources.log.users.get(customer_id) is not None

    def known_item(self, item_id: str) -> bool:
        return self.sources.log.items.get(item_id) is not None

    def item_index(self, item_ids: Sequence[str]) -> np.ndarray:
        """Internal indices of the known ones among `item_ids` (unknown ones dropped)."""
        idx = self.sources.log.items.to_internal(list(item_ids), strict=False)
        return idx[idx >= 0]

    # --- ranking ----------------------------------------------------------------------------------
    def score_pairs(self, pairs: PairBlock) -> np.ndarray:
        """Higher = better; the reranker's score or the rule's decayed count (+ popularity)."""
        if pairs.user.size == 0:
            return np.zeros(0)
        if self.config.mode == "reranker":
            return np.asarray(self.booster.predict(pairs.features, num_threads=1), dtype=np.float64)
        col = FEATURE_NAMES.index(_RULE_FEATURE[self.config.rule_decay])
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
    ) -> pd.DataFrame:
        """THE ranking routine: top-k per customer as one table (`TABLE_COLUMNS`).

        One run of rows per input id, in input order; ids are not merged, so the same customer
        with two carts is two runs. `/recommendations`, the export, training's evaluation and
        the cart metrics all read this table: what is served is what was measured. `carts` and
        `live_orders` give each customer's context (item ids the model never saw are left out;
        a cart's items are never returned); `cart_weight` defaults to the one training chose.
        """
        check_k(k)
        ids = [str(c) for c in customer_ids]
        users = self.sources.log.users.to_internal(ids, strict=False)
        weight = self.cart_weight if cart_weight is None else cart_weight
        step = max(1, _BLOCK_CELLS // max(len(self._item_ids), 1))
        parts = []
        for start in range(0, len(ids), step):
            end = start + step
            user, item, score, source, repeat = self._rank_block(
                users[start:end],
                k,
                exclude_purchased=exclude_purchased,
                category=category,
                carts=None if carts is None else carts[start:end],
                live_orders=None if live_orders is None else live_orders[start:end],
                cart_weight=weight,
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
        exclude_purchased: bool = DEFAULT_EXCLUDE_PURCHASED,
        category: str | None = None,
        cart_item_ids: Sequence[str] | None = None,
        live_orders: LiveOrders | None = None,
        cart_weight: float | None = None,
    ) -> pd.DataFrame:
        """One customer's rows of `rank` (the HTTP call): the same routine as the batch."""
        return self.rank(
            [customer_id],
            k,
            exclude_purchased=exclude_purchased,
            category=category,
            carts=None if cart_item_ids is None else [cart_item_ids],
            live_orders=None if live_orders is None else [live_orders],
            cart_weight=cart_weight,
        )

    def _rank_block(
        self,
        users: np.ndarray,
        k: int,
        *,
        exclude_purchased: bool,
        category: str | None,
        carts: Sequence[Sequence[str]] | None,
        live_orders: Sequence[LiveOrders] | None,
        cart_weight: float,
    ) -> tuple[np.ndarray, ...]:
        """(position in block, item index, score, source, is_repeat) of each customer's top k,
        ordered by customer, then rank. One candidate frame and one model call for the block,
        top-k by a row sort of a (customers x candidates) grid; only customers left with fewer
        than k items are topped up with popular ones, one by one."""
        n = len(users)
        allowed = None
        if category is not None:
            code = self._category_code.get(category)
            if code is None:
                return _empty_block()
            allowed = self.sources.stats.category == code
        cart_idx = None if carts is None else [self.item_index(c) for c in carts]
        extra, now = None, np.full(n, self.as_of_day)
        if live_orders is not None:
            extra = [
                [(day, idx) for day, its in orders if (idx := self.item_index(its)).size]
                for orders in live_orders
            ]
            now = np.array([max([self.as_of_day] + [d for d, _ in e]) for e in extra])
        pairs = build_pairs(
            self.sources,
            users,
            now,
            settings=self.config.candidates,
            extra=extra,
            carts=cart_idx,
            exclude_purchased=exclude_purchased,
            allowed=allowed,
        )
        scores, sources = self.score_pairs(pairs), pairs.source
        has_cart = np.array([c.size > 0 for c in cart_idx or ()] or [False] * n, dtype=bool)
        if cart_weight > 0 and has_cart.any() and pairs.user.size:
            cart = pairs.features[:, FEATURE_NAMES.index("cart_cooc_score")].astype(np.float64)
            blended = (1 - cart_weight) * _per_user_minmax(pairs.user, scores) + (
                cart_weight * _per_user_minmax(pairs.user, cart)
            )
            with_cart = has_cart[pairs.user]
            scores = np.where(with_cart, blended, scores)
            # a complement of the cart is named so, unless the customer buys it anyway
            complement = with_cart & (cart > 0) & ~pairs.is_repeat
            sources = np.where(complement, SOURCE_BOUGHT_TOGETHER, sources)
        top = _top_k_per_user(pairs.user, scores, k, n)
        # nothing known about a customer (no history, live order or cart): plain popular fallback
        context = has_cart | np.array([bool(e) for e in extra or ()] or [False] * n, dtype=bool)
        top = top[~((users < 0) & ~context)[pairs.user[top]]]
        block = [
            pairs.user[top],
            pairs.item[top],
            scores[top],
            np.asarray(sources[top], dtype=object),
            pairs.is_repeat[top],
        ]
        have = np.bincount(block[0], minlength=n)
        for b in np.flatnonzero(have < k).tolist():
            skip = set(block[1][block[0] == b].tolist())
            if cart_idx is not None:
                skip |= set(cart_idx[b].tolist())
            if exclude_purchased:
                skip |= self._bought(int(users[b]), extra[b] if extra is not None else None)
            fill, source, score = self._popular_fill(k - int(have[b]), skip, category)
            for j, values in enumerate(
                (np.full(len(fill), b), fill, score, [source] * len(fill), [False] * len(fill))
            ):
                block[j] = np.concatenate([block[j], np.asarray(values, dtype=block[j].dtype)])
        order = np.argsort(block[0], kind="stable")  # fills land after the customer's own
        return tuple(values[order] for values in block)

    def _bought(self, user: int, extra: list[tuple[float, np.ndarray]] | None) -> set[int]:
        log = self.sources.log
        items: list[int] = []
        if user >= 0:
            o0, o1 = log.order_ptr[user], log.order_ptr[user + 1]
            items += log.line_item[log.line_ptr[o0] : log.line_ptr[o1]].tolist()
        for _, its in extra or ():
            items += np.asarray(its).tolist()
        return set(items)

    def _popular_fill(
        self, n: int, skip: set[int], category: str | None
    ) -> tuple[list[int], str, np.ndarray]:
        """(item indices, source, scores) of the n most popular items (in the category) not in
        `skip`."""
        stats = self.sources.stats
        order, source = stats.popular_order, SOURCE_POPULAR
        if category is not None:
            order = order[stats.category[order] == self._category_code[category]]
            source = SOURCE_POPULAR_IN_CATEGORY
        fill = [i for i in order[: n + len(skip)].tolist() if i not in skip][:n]
        return fill, source, stats.popularity[fill].astype(np.float64)

    # --- items --------------------------------------------------------------------------------------
    def similar_items(self, item_id: str, k: int = DEFAULT_K) -> pd.DataFrame:
        """Items most often bought together with this one (`ITEM_COLUMNS`, best first); popular
        ones (in its category) if it is unknown or never bought with anything."""
        check_k(k)
        item = self.sources.log.items.get(item_id)
        stats = self.sources.stats
        picked: list[int] = []
        score = np.zeros(0)
        if item is not None:
            row = self.sources.cooc.getrow(item)
            order = np.lexsort((row.indices, -row.data))[:k]
            picked, score = row.indices[order].tolist(), row.data[order].astype(np.float64)
        n_model = len(picked)
        order, source = stats.popular_order, SOURCE_POPULAR
        if item is not None and stats.category[item] >= 0:
            order = order[stats.category[order] == stats.category[item]]
            source = SOURCE_POPULAR_IN_CATEGORY
        skip = set(picked) | ({item} if item is not None else set())
        picked += [i for i in order[: k + len(skip)].tolist() if i not in skip][: k - n_model]
        return pd.DataFrame(
            {
                RANK: np.arange(1, len(picked) + 1),
                C.ITEM_ID: self._item_ids[np.asarray(picked, dtype=np.int64)].astype(object),
                SCORE: np.concatenate([score, stats.popularity[picked[n_model:]]]),
                SOURCE: [SOURCE_BOUGHT_TOGETHER] * n_model + [source] * (len(picked) - n_model),
                KIND: [KIND_NEW] * len(picked),
            }
        )

    # --- save / load ----------------------------------------------------------------------------------
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
        arrays = {
            "order_ptr": log.order_ptr,
            "order_day": log.order_day,
            "line_ptr": log.line_ptr,
            "line_item": log.line_item,
            "category": stats.category,
        }
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
            arrays["order_ptr"],
            arrays["order_day"],
            arrays["line_ptr"],
            arrays["line_item"],
        )
        if log.order_ptr.size != len(log.users) + 1 or log.line_ptr[-1] != log.line_item.size:
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


def _empty_block() -> tuple[np.ndarray, ...]:
    return (
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        np.zeros(0),
        np.zeros(0, object),
        np.zeros(0, bool),
    )


def _top_k_per_user(user: np.ndarray, scores: np.ndarray, k: int, n: int) -> np.ndarray:
    """Indices of each customer's k best pairs, best first, customers in order; ties keep the
    pairs' order (ascending item within a customer, as `build_pairs` emits them)."""
    if user.size == 0:
        return np.zeros(0, dtype=np.int64)
    counts = np.bincount(user, minlength=n)
    start = np.cumsum(counts) - counts
    slot = np.arange(user.size) - start[user]
    width = int(counts.max())
    neg = np.full((n, width), np.inf)
    neg[user, slot] = np.where(np.isnan(scores), np.inf, -scores)
    order = np.argsort(neg, axis=1, kind="stable")[:, :k]
    taken = np.arange(order.shape[1])[None, :] < np.minimum(counts, k)[:, None]
    return (start[:, None] + order)[taken]
