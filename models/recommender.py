"""Collaborative-filtering recommender (implicit ALS or BPR) with explicit fallbacks.

Policy for what the model cannot answer, flagged in `Recommendation.source`:
- a customer never seen in training gets the most popular items (`popular`), or the most
  popular in the requested category (`popular_in_category`); never an exception;
- an unknown category gives an empty list (no error): the caller decides how to flag it;
- when the model has fewer than k candidates (small category, customer bought most items),
  the list is topped up from popularity (`popular_in_category` / `popular`);
- with `blend_buy_again` set and `exclude_purchased=False`, the score is
  (1-w) * min-max-normalised CF score + w * the customer's order count for the item divided by
  their largest one; items the customer bought are flagged `buy_again`, others `model`.
Scores compare only within one source: CF scores are dot products, popular scores are the
share of customers who bought the item, blended scores lie in [0, 1].
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from churnrec import columns as C
from churnrec.models.base import RecommenderModel
from churnrec.models.id_index import IdIndex
from churnrec.models.popularity import PopularityLists, check_k
from churnrec.models.recommender_parts.blas import one_blas_thread
from churnrec.models.recommender_parts.history import PurchaseHistory
from churnrec.models.recommender_parts.interactions import (
    confidence,
    user_item_matrix,
    validate_interactions,
)

SOURCE_MODEL = "model"
SOURCE_BUY_AGAIN = "buy_again"
SOURCE_POPULAR = "popular"
SOURCE_POPULAR_IN_CATEGORY = "popular_in_category"

_CONFIG_FILE = "config.json"
_IDS_FILE = "id_index.json"
_FACTORS_FILE = "factors.npz"
_HISTORY_FILE = "interactions.parquet"
_POPULARITY_FILE = "popularity.parquet"
_BATCH_ROWS = 2048  # users scored per block in recommend_batch
_FILTERED = np.finfo(np.float32).min / 2  # implicit marks filtered items with -FLT_MAX


class RecommenderConfig(BaseModel):
    """Hyperparameters; `model_dump()` is flat and goes straight to mlflow.log_params."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    algorithm: Literal["als", "bpr"] = "als"
    factors: int = Field(64, ge=1, le=1024)
    iterations: int = Field(15, ge=1, le=1000)
    regularization: float = Field(0.01, ge=0.0)
    alpha: float = Field(1.0, gt=0.0, description="ALS: confidence = alpha * weight")
    learning_rate: float = Field(0.01, gt=0.0, description="BPR only")
    weighting: Literal["bm25", "log", "none"] = "bm25"
    bm25_k1: float = Field(100.0, gt=0.0)
    bm25_b: float = Field(0.8, ge=0.0, le=1.0)
    blend_buy_again: float | None = Field(None, ge=0.0, le=1.0)
    num_threads: int = Field(1, ge=0, description="BPR is reproducible only with 1 thread")
    seed: int = 42


@dataclass(frozen=True)
class Recommendation:
    item_id: str
    score: float
    source: str


def _new_model(config: RecommenderConfig):
    common = {
        "factors": config.factors,
        "regularization": config.regularization,
        "iterations": config.iterations,
        "num_threads": config.num_threads,
        "random_state": config.seed,
    }
    if config.algorithm == "als":
        return _model_class(config)(alpha=config.alpha, **common)
    return _model_class(config)(learning_rate=config.learning_rate, **common)


def _model_class(config: RecommenderConfig):
    if config.algorithm == "als":
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    return BayesianPersonalizedRanking


class Recommender(RecommenderModel):
    """A fitted CF model plus the purchase history and popularity lists it falls back on."""

    def __init__(
        self,
        config: RecommenderConfig,
        model,
        history: PurchaseHistory,
        popularity: PopularityLists,
    ) -> None:
        self.config = config
        self.model = model
        self.history = history
        self.popularity = popularity
        self._item_ids = history.items.external_ids.astype(str)

    # --- fit / save / load ------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        interactions: pd.DataFrame,
        items: pd.DataFrame | None = None,
        config: RecommenderConfig | None = None,
    ) -> Recommender:
        """Fit on the interactions table (customer_id, item_id, weight, n_orders, last_ordered_at)."""
        config = config or RecommenderConfig()
        df = validate_interactions(interactions)
        history = PurchaseHistory.from_interactions(df)
        weights = confidence(
            user_item_matrix(df, history.users, history.items, C.WEIGHT),
            config.weighting,
            bm25_k1=config.bm25_k1,
            bm25_b=config.bm25_b,
        )
        with one_blas_thread():
            model = _new_model(config)
            model.fit(weights, show_progress=False)
        return cls(config, model, history, PopularityLists.build(df, history.items, items))

    def _save(self, path: Path) -> None:
        """Folder with config.json, id_index.json, factors.npz (implicit's own npz format),
        interactions.parquet (purchase history) and popularity.parquet. No pickle."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / _CONFIG_FILE).write_text(json.dumps(self.config.model_dump(), indent=2))
        ids = {"customers": self.history.users.to_list(), "items": self.history.items.to_list()}
        (path / _IDS_FILE).write_text(json.dumps(ids))
        self.model.save(str(path / _FACTORS_FILE))
        self.history.to_frame().to_parquet(path / _HISTORY_FILE, index=False)
        self.popularity.to_frame().to_parquet(path / _POPULARITY_FILE, index=False)

    @classmethod
    def _load(cls, path: Path) -> Recommender:
        path = Path(path)
        for name in (_CONFIG_FILE, _IDS_FILE, _FACTORS_FILE, _HISTORY_FILE, _POPULARITY_FILE):
            if not (path / name).exists():
                raise FileNotFoundError(f"recommender folder {path} lacks {name}")
        config = RecommenderConfig.model_validate_json((path / _CONFIG_FILE).read_text())
        ids = json.loads((path / _IDS_FILE).read_text())
        users, items = IdIndex(ids["customers"]), IdIndex(ids["items"])
        with one_blas_thread():
            model = _model_class(config).load(str(path / _FACTORS_FILE))
        model.num_threads = config.num_threads  # load() builds a default model (all cores)
        history = PurchaseHistory.from_interactions(
            pd.read_parquet(path / _HISTORY_FILE), users, items
        )
        popularity = PopularityLists.from_frame(pd.read_parquet(path / _POPULARITY_FILE), items)
        if model.user_factors.shape[0] != len(users) or model.item_factors.shape[0] != len(items):
            raise ValueError(
                f"{path / _FACTORS_FILE} has {model.user_factors.shape[0]} x "
                f"{model.item_factors.shape[0]} factors but {path / _IDS_FILE} lists "
                f"{len(users)} customers x {len(items)} items"
            )
        return cls(config, model, history, popularity)

    # --- what the model knows -----------------------------------------------------------------
    def known_customer(self, customer_id: str) -> bool:
        """True when the model was trained on this customer's purchases (no fallback needed)."""
        return self.history.users.get(customer_id) is not None

    def known_item(self, item_id: str) -> bool:
        return self.history.items.get(item_id) is not None

    # --- single customer ----------------------------------------------------------------------
    def _recommend(
        self,
        customer_id: str,
        k: int = 10,
        exclude_purchased: bool = True,
        category: str | None = None,
    ) -> list[Recommendation]:
        """Top-k items for one customer; see the module docstring for the fallback policy."""
        check_k(k)
        if category is not None and category not in self.popularity.by_category:
            return []
        user = self.history.users.get(customer_id)
        fallback = SOURCE_POPULAR if category is None else SOURCE_POPULAR_IN_CATEGORY
        if user is None:
            return self._popular(k, (), category, fallback)
        bought = self.history.items_of(user)
        counts = self.history.counts_of(user)
        cand = None if category is None else self.popularity.by_category[category]
        factors = self.model.item_factors if cand is None else self.model.item_factors[cand]
        with one_blas_thread():
            scores = factors @ self.model.user_factors[user]  # one score per candidate
        if cand is None:
            mine = bought  # positions of the customer's items among the candidates
        else:
            mine = np.flatnonzero(np.isin(cand, bought))
            counts = counts[np.searchsorted(bought, cand[mine])]
        blend = self.config.blend_buy_again
        blended = blend is not None and not exclude_purchased
        if blended:
            scores = _blend(scores, mine, counts, blend)
        if exclude_purchased:
            scores[mine] = -np.inf
        top = _top_k(scores, k)
        again = np.isin(top, mine) if blended else np.zeros(top.size, dtype=bool)
        items = top if cand is None else cand[top]
        recs = [
            Recommendation(
                str(self._item_ids[i]), float(scores[t]), SOURCE_BUY_AGAIN if a else SOURCE_MODEL
            )
            for i, t, a in zip(items.tolist(), top.tolist(), again.tolist())
        ]
        if len(recs) < k:
            skip = np.concatenate([bought, items]) if exclude_purchased else items
            recs += self._popular(k - len(recs), skip, category, fallback)
        return recs

    def _popular(
        self, k: int, skip: Sequence[int] | np.ndarray, category: str | None, source: str
    ) -> list[Recommendation]:
        items = self.popularity.top(k, exclude=skip, category=category)
        return [
            Recommendation(str(self._item_ids[i]), float(self.popularity.score[i]), source)
            for i in items
        ]

    # --- items --------------------------------------------------------------------------------
    def similar_items(self, item_id: str, k: int = 10) -> list[Recommendation]:
        """Most similar items by cosine of item factors; an item the model never saw gets the
        most popular items of its category (items table) or overall, flagged by source."""
        check_k(k)
        item = self.history.items.get(item_id)
        if item is None:
            category = self.popularity.category_of(item_id)
            if category is not None and category in self.popularity.by_category:
                return self._popular(k, (), category, SOURCE_POPULAR_IN_CATEGORY)
            return self._popular(k, (), None, SOURCE_POPULAR)
        n = min(k + 1, len(self.history.items))
        with one_blas_thread():
            ids, scores = self.model.similar_items(item, N=n)
        return [
            Recommendation(str(self._item_ids[i]), float(s), SOURCE_MODEL)
            for i, s in zip(ids.tolist(), scores.tolist())
            if i != item
        ][:k]

    # --- evaluation fast path -------------------------------------------------------------------
    def recommend_batch(
        self, customer_ids: Sequence[str], k: int = 10, exclude_purchased: bool = True
    ) -> dict[str, list[str]]:
        """Item ids only, for many customers at once (implicit's vectorised recommend).

        Same ranking rules as `recommend` without a category; unknown customers get `popular`.
        """
        check_k(k)
        ids = list(dict.fromkeys(customer_ids))
        users = self.history.users.to_internal(ids, strict=False)
        out: dict[str, list[str]] = {}
        popular = [str(self._item_ids[i]) for i in self.popularity.top(k)]
        for cid in np.asarray(ids, dtype=object)[users < 0]:
            out[str(cid)] = list(popular)
        known = np.flatnonzero(users >= 0)
        blend = self.config.blend_buy_again is not None and not exclude_purchased
        for start in range(0, known.size, _BATCH_ROWS):
            block = known[start : start + _BATCH_ROWS]
            if blend:
                top_rows = [
                    [r.item_id for r in self.recommend(ids[j], k, exclude_purchased=False)]
                    for j in block
                ]
                out.update({ids[j]: row for j, row in zip(block, top_rows)})
                continue
            rows = users[block]
            with one_blas_thread():
                top, scores = self.model.recommend(
                    rows,
                    self.history.rows(rows),
                    N=min(k, len(self.history.items)),
                    filter_already_liked_items=exclude_purchased,
                )
            for j, user, row_ids, row_scores in zip(block, rows, top, scores):
                keep = row_ids[row_scores > _FILTERED]
                recs = [str(self._item_ids[i]) for i in keep.tolist()]
                if len(recs) < k:
                    skip = (
                        np.concatenate([self.history.items_of(user), keep])
                        if exclude_purchased
                        else keep
                    )
                    recs += [
                        str(self._item_ids[i])
                        for i in self.popularity.top(k - len(recs), exclude=skip)
                    ]
                out[ids[j]] = recs
        return {cid: out[cid] for cid in ids}


def _blend(scores: np.ndarray, mine: np.ndarray, counts: np.ndarray, w: float) -> np.ndarray:
    """(1-w) * CF score min-max scaled over the candidates + w * order count / the largest."""
    lo, hi = float(scores.min()), float(scores.max())
    out = (scores.astype(np.float64) - lo) / (hi - lo) if hi > lo else np.zeros(scores.shape)
    out *= 1.0 - w
    if mine.size:
        out[mine] += w * counts / counts.max()
    return out


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest finite scores, best first (ties: lower index first).

    Filtered items carry -inf and drop out; one partial sort, no pass over all scores.
    """
    n = scores.size
    part = np.argpartition(scores, n - k)[n - k :] if k < n else np.arange(n)
    part = part[np.isfinite(scores[part])]
    return part[np.lexsort((part, -scores[part]))]
