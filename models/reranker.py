"""Repeat-aware recommender: own past items plus explore candidates, ranked by a learned model.

Candidates per customer: every item they bought before (`buy_again`, flagged `repeat`) and
items new to them from ALS (`model`), basket co-occurrence with their latest orders or cart
(`bought_together`), their categories (`popular_in_category`) and overall popularity
(`popular`). Each (customer, item) gets point-in-time features
(`recommender_parts/rank_features.py`) and is scored by

- `mode="reranker"`: a LightGBM lambdarank model trained on earlier cut-offs; or
- `mode="rule"`: decayed buy-it-again (orders containing the item, each weighted
  `rule_decay ** orders_ago`; ties: more recent first), then the most popular new items.
  Served when the reranker does not beat this rule on the validation window.

`recommend` (HTTP), `recommend_batch` (evaluation) and the batch export (`recommend_table`) all
go through `rank_flat`, with the same defaults (`DEFAULT_EXCLUDE_PURCHASED`): what is served is what was
measured. A customer without any history or live event gets `popular` (or
`popular_in_category`) items: the documented fallback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from churnrec import columns as C
from churnrec.models.base import RecommenderModel
from churnrec.models.id_index import IdIndex
from churnrec.models.popularity import check_k
from churnrec.models.recommender_parts.baskets import BasketLog, to_days
from churnrec.models.recommender_parts.rank_features import (
    FEATURE_NAMES,
    SOURCE_BOUGHT_TOGETHER,
    SOURCE_POPULAR,
    SOURCE_POPULAR_IN_CATEGORY,
    CandidateSettings,
    PairBlock,
    Sources,
    build_pairs,
)
from churnrec.models.recommender_parts.sources import cooccurrence, fit_als, item_stats

DEFAULT_EXCLUDE_PURCHASED = False  # the measured default: repeat + new items
KIND_REPEAT = "repeat"
KIND_NEW = "new"
RULE_STRATEGY = "decayed_buy_again"
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


@dataclass(frozen=True)
class RankedItem:
    item_id: str
    score: float
    source: str
    kind: str  # "repeat" (bought before) or "new"


@dataclass(frozen=True)
class RankedBlock:
    """Top-k of a block of customers as flat arrays, ordered by customer, then rank."""

    user: np.ndarray  # position of the customer in the block
    item_id: np.ndarray  # object: external item ids
    score: np.ndarray  # float64
    source: np.ndarray  # object: SOURCE_* names
    is_repeat: np.ndarray  # bool

    @classmethod
    def empty(cls) -> RankedBlock:
        return cls(
            np.zeros(0, np.int64),
            np.zeros(0, object),
            np.zeros(0),
            np.zeros(0, object),
            np.zeros(0, bool),
        )

    def to_items(self, n: int) -> list[list[RankedItem]]:
        """One list of `RankedItem`s per customer of the block (n customers)."""
        out: list[list[RankedItem]] = [[] for _ in range(n)]
        for u, item, score, source, repeat in zip(
            self.user.tolist(),
            self.item_id.tolist(),
            self.score.tolist(),
            self.source.tolist(),
            self.is_repeat.tolist(),
            strict=True,
        ):
            out[u].append(RankedItem(item, score, source, KIND_REPEAT if repeat else KIND_NEW))
        return out

    def with_fills(self, fills: list[tuple[int, list[RankedItem]]]) -> RankedBlock:
        """These rows plus fill items appended after each named customer's own."""
        rows = [(b, r) for b, items in fills for r in items]
        if not rows:
            return self
        user = np.concatenate([self.user, np.array([b for b, _ in rows], dtype=np.int64)])
        order = np.argsort(user, kind="stable")  # fills land after the customer's ranked items
        return RankedBlock(
            user=user[order],
            item_id=np.concatenate(
                [self.item_id, np.array([r.item_id for _, r in rows], dtype=object)]
            )[order],
            score=np.concatenate([self.score, [r.score for _, r in rows]])[order],
            source=np.concatenate(
                [self.source, np.array([r.source for _, r in rows], dtype=object)]
            )[order],
            is_repeat=np.concatenate([self.is_repeat, np.zeros(len(rows), dtype=bool)])[order],
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


class RepeatAwareRecommender(RecommenderModel):
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
    ) -> RepeatAwareRecommender:
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
    ) -> RepeatAwareRecommender:
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

    def rank_block(
        self,
        users: np.ndarray,
        k: int,
        *,
        now: np.ndarray | float | None = None,
        exclude_purchased: bool = DEFAULT_EXCLUDE_PURCHASED,
        category: str | None = None,
        extra: list[list[tuple[float, np.ndarray]]] | None = None,
        carts: list[np.ndarray] | None = None,
        cart_weight: float = 0.0,
    ) -> list[list[RankedItem]]:
        """Top-k per customer of a block (log indices, -1 = none stored), as `RankedItem`s:
        `rank_flat`'s answer, one list per customer."""
        ranked = self.rank_flat(
            users,
            k,
            now=now,
            exclude_purchased=exclude_purchased,
            category=category,
            extra=extra,
            carts=carts,
            cart_weight=cart_weight,
        )
        return ranked.to_items(len(users))

    def rank_flat(
        self,
        users: np.ndarray,
        k: int,
        *,
        now: np.ndarray | float | None = None,
        exclude_purchased: bool = DEFAULT_EXCLUDE_PURCHASED,
        category: str | None = None,
        extra: list[list[tuple[float, np.ndarray]]] | None = None,
        carts: list[np.ndarray] | None = None,
        cart_weight: float = 0.0,
    ) -> RankedBlock:
        """Top-k per customer of a block (log indices, -1 = none stored): THE ranking routine
        behind `/recommendations`, evaluation and the batch export. One candidate frame and one
        model call for the whole block, top-k by a row sort of a (customers x candidates) grid;
        only customers left with fewer than k items are topped up one by one."""
        users = np.asarray(users, dtype=np.int64)
        allowed = None
        if category is not None:
            code = self._category_code.get(category)
            if code is None:
                return RankedBlock.empty()
            allowed = self.sources.stats.category == code
        pairs = build_pairs(
            self.sources,
            users,
            self.as_of_day if now is None else now,
            settings=self.config.candidates,
            extra=extra,
            carts=carts,
            exclude_purchased=exclude_purchased,
            allowed=allowed,
        )
        scores = self.score_pairs(pairs)
        if cart_weight > 0 and pairs.user.size:
            cart = pairs.features[:, FEATURE_NAMES.index("cart_cooc_score")].astype(np.float64)
            scores = (1 - cart_weight) * _per_user_minmax(pairs.user, scores) + (
                cart_weight * _per_user_minmax(pairs.user, cart)
            )
            # a complement of the cart is named so, unless the customer buys it anyway
            sources = np.where((cart > 0) & ~pairs.is_repeat, SOURCE_BOUGHT_TOGETHER, pairs.source)
        else:
            sources = pairs.source
        top = _top_k_per_user(pairs.user, scores, k, len(users))
        # nothing known about a customer (no history, live order or cart): plain popular fallback
        no_history = users < 0
        if extra is not None:
            no_history &= np.array([not e for e in extra], dtype=bool)
        if carts is not None:
            no_history &= np.array([len(c) == 0 for c in carts], dtype=bool)
        top = top[~no_history[pairs.user[top]]]
        ranked = RankedBlock(
            user=pairs.user[top],
            item_id=self._item_ids[pairs.item[top]],
            score=scores[top],
            source=np.asarray(sources[top], dtype=object),
            is_repeat=pairs.is_repeat[top],
        )
        short = np.flatnonzero(np.bincount(ranked.user, minlength=len(users)) < k)
        if short.size == 0:
            return ranked
        fills = []
        for b in short.tolist():
            skip = set(ranked.item_id[ranked.user == b].tolist())
            if carts is not None:
                skip |= set(self.sources.log.items.to_external(carts[b]))
            if exclude_purchased:
                skip |= self._bought(int(users[b]), extra[b] if extra is not None else None)
            have = int(np.count_nonzero(ranked.user == b))
            fills.append((b, self._popular_fill(k - have, skip, category)))
        return ranked.with_fills(fills)

    def _bought(self, user: int, extra: list[tuple[float, np.ndarray]] | None) -> set[str]:
        log = self.sources.log
        items: list[int] = []
        if user >= 0:
            o0, o1 = log.order_ptr[user], log.order_ptr[user + 1]
            items += log.line_item[log.line_ptr[o0] : log.line_ptr[o1]].tolist()
        for _, its in extra or ():
            items += np.asarray(its).tolist()
        return set(log.items.to_external(sorted(set(items))))

    def _popular_fill(self, n: int, skip: set[str], category: str | None) -> list[RankedItem]:
        """The n most popular items (in the category) not in `skip`."""
        stats = self.sources.stats
        source = SOURCE_POPULAR
        order = stats.popular_order
        if category is not None:
            order = order[stats.category[order] == self._category_code[category]]
            source = SOURCE_POPULAR_IN_CATEGORY
        fill: list[RankedItem] = []
        for i in order.tolist():
            if len(fill) >= n:
                break
            item_id = str(self._item_ids[i])
            if item_id not in skip:
                fill.append(RankedItem(item_id, float(stats.popularity[i]), source, KIND_NEW))
        return fill

    def _recommend(
        self,
        customer_id: str,
        k: int = 10,
        exclude_purchased: bool = DEFAULT_EXCLUDE_PURCHASED,
        category: str | None = None,
        cart_item_ids: Sequence[str] | None = None,
        live_orders: list[tuple[float, Sequence[str]]] | None = None,
        cart_weight: float | None = None,
    ) -> list[RankedItem]:
        """Top-k for one customer: the same `rank_block` as evaluation and batch export."""
        check_k(k)
        user = self.sources.log.users.get(customer_id)
        extra = None
        now = self.as_of_day
        known_orders = [(day, self.item_index(items)) for day, items in live_orders or ()]
        known_orders = [(day, idx) for day, idx in known_orders if idx.size]
        if known_orders:  # items the model never saw cannot be ranked; they are left out
            extra = [known_orders]
            now = max(now, max(day for day, _ in known_orders))
        carts = None if cart_item_ids is None else [self.item_index(cart_item_ids)]
        weight = self.cart_weight if cart_weight is None else cart_weight
        excluded = set(cart_item_ids or ())
        rows = self.rank_block(
            np.array([-1 if user is None else user]),
            k + len(excluded),
            now=now,
            exclude_purchased=exclude_purchased,
            category=category,
            extra=extra,
            carts=carts,
            cart_weight=weight if carts is not None else 0.0,
        )
        return [r for r in rows[0] if r.item_id not in excluded][:k]

    def recommend_batch(
        self,
        customer_ids: Sequence[str],
        k: int = 10,
        exclude_purchased: bool = DEFAULT_EXCLUDE_PURCHASED,
    ) -> dict[str, list[str]]:
        """Item ids per customer, many at once (evaluation): `rank_flat` in blocks."""
        out: dict[str, list[str]] = {}
        for ids, ranked in self._ranked_blocks(customer_ids, k, exclude_purchased):
            bounds = np.searchsorted(ranked.user, np.arange(len(ids) + 1))
            items = ranked.item_id.tolist()
            for b, cid in enumerate(ids):
                out[cid] = items[bounds[b] : bounds[b + 1]]
        return out

    def recommend_many(
        self,
        customer_ids: Sequence[str],
        k: int = 10,
        exclude_purchased: bool = DEFAULT_EXCLUDE_PURCHASED,
    ) -> dict[str, list[RankedItem]]:
        """`RankedItem`s per customer, many at once."""
        out: dict[str, list[RankedItem]] = {}
        for ids, ranked in self._ranked_blocks(customer_ids, k, exclude_purchased):
            out.update(zip(ids, ranked.to_items(len(ids))))
        return out

    def recommend_table(
        self,
        customer_ids: Sequence[str],
        k: int = 10,
        exclude_purchased: bool = DEFAULT_EXCLUDE_PURCHASED,
    ) -> pd.DataFrame:
        """One row per (customer, rank): customer_id, rank, item_id, score, source, kind; the
        batch export's form, built from `rank_flat`'s arrays without a Python object per item."""
        parts = []
        for ids, ranked in self._ranked_blocks(customer_ids, k, exclude_purchased):
            first = np.searchsorted(ranked.user, ranked.user)  # start of each customer's run
            parts.append(
                pd.DataFrame(
                    {
                        C.CUSTOMER_ID: np.asarray(ids, dtype=object)[ranked.user],
                        "rank": np.arange(ranked.user.size) - first + 1,
                        C.ITEM_ID: ranked.item_id,
                        "score": ranked.score,
                        "source": ranked.source,
                        "kind": np.where(ranked.is_repeat, KIND_REPEAT, KIND_NEW).astype(object),
                    }
                )
            )
        if not parts:
            return pd.DataFrame(
                {c: [] for c in (C.CUSTOMER_ID, "rank", C.ITEM_ID, "score", "source", "kind")}
            )
        return pd.concat(parts, ignore_index=True)

    def _ranked_blocks(
        self, customer_ids: Sequence[str], k: int, exclude_purchased: bool
    ) -> Iterator[tuple[list[str], RankedBlock]]:
        """(ids, ranked) per block of distinct customers, in the order given."""
        check_k(k)
        ids = list(dict.fromkeys(str(c) for c in customer_ids))
        users = self.sources.log.users.to_internal(ids, strict=False)
        block = max(1, _BLOCK_CELLS // max(len(self._item_ids), 1))
        for start in range(0, len(ids), block):
            ranked = self.rank_flat(
                users[start : start + block], k, exclude_purchased=exclude_purchased
            )
            yield ids[start : start + block], ranked

    # --- items --------------------------------------------------------------------------------------
    def similar_items(self, item_id: str, k: int = 10) -> list[RankedItem]:
        """Items most often bought together with this one; popular (in its category) if unknown
        or never bought with anything."""
        check_k(k)
        item = self.sources.log.items.get(item_id)
        out: list[RankedItem] = []
        if item is not None:
            row = self.sources.cooc.getrow(item)
            order = np.lexsort((row.indices, -row.data))[:k]
            out = [
                RankedItem(
                    str(self._item_ids[row.indices[j]]),
                    float(row.data[j]),
                    SOURCE_BOUGHT_TOGETHER,
                    KIND_NEW,
                )
                for j in order.tolist()
            ]
        if len(out) < k:
            stats = self.sources.stats
            order = stats.popular_order
            source = SOURCE_POPULAR
            if item is not None and stats.category[item] >= 0:
                order = order[stats.category[order] == stats.category[item]]
                source = SOURCE_POPULAR_IN_CATEGORY
            skip = {r.item_id for r in out} | {item_id}
            for i in order.tolist():
                if len(out) >= k:
                    break
                if str(self._item_ids[i]) not in skip:
                    out.append(
                        RankedItem(
                            str(self._item_ids[i]), float(stats.popularity[i]), source, KIND_NEW
                        )
                    )
        return out

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
    def _load(cls, path: Path) -> RepeatAwareRecommender:
        path = Path(path)
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
