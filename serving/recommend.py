"""`/recommendations` and `/similar_items` as response objects: the ranking plus live events.

Default requests are cached per (model, catalogue, customer, k, live-event version), so a live
event or a reload never serves a stale answer; entries are plain tuples the GC does not track.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from pydantic import ValidationError

from churnrec import columns as C
from churnrec.models.ranking.rank_features import SOURCE_PROMOTED
from churnrec.models.ranking.rules import Catalogue, Rules
from churnrec.models.recommender import DEFAULT_EXCLUDE_PURCHASED, KIND, SCORE, SOURCE
from churnrec.serving.events import LiveEvents
from churnrec.serving.schemas import (
    RecommendationFilters,
    RecommendationRules,
    RecommendationsResponse,
    RecommendedItem,
    SimilarItemsResponse,
)

MAX_CACHED_ANSWERS = 200_000
CachedItem = tuple[str, float, str, str]  # item_id, score, source, kind


class AnswerCache:
    """Default answers of one model and catalogue; cleared when either changes or when full."""

    def __init__(self) -> None:
        self._model: Any = None
        self._catalogue: Any = None
        self._answers: dict[tuple[str, int, int], tuple[tuple[CachedItem, ...], str | None]] = {}

    def _same(self, model: Any, catalogue: Any) -> bool:
        if model is self._model and catalogue is self._catalogue:
            return True
        self._model, self._catalogue, self._answers = model, catalogue, {}
        return False

    def lookup(self, model: Any, key: tuple[str, int, int], catalogue: Any = None):
        return self._answers.get(key) if self._same(model, catalogue) else None

    def store(self, model: Any, key: tuple[str, int, int], value, catalogue: Any = None) -> None:
        self._same(model, catalogue)
        if len(self._answers) >= MAX_CACHED_ANSWERS:
            self._answers = {}
        self._answers[key] = value


def _rows(table: pd.DataFrame) -> tuple[CachedItem, ...]:
    """The ranking table's rows as plain tuples (what the cache keeps)."""
    columns = (C.ITEM_ID, SCORE, SOURCE, KIND)
    return tuple(zip(*(table[c].tolist() for c in columns), strict=True))


def _items(rows: tuple[CachedItem, ...]) -> list[RecommendedItem]:
    return [
        RecommendedItem.model_construct(item_id=item_id, score=score, source=source, kind=kind)
        for item_id, score, source, kind in rows
    ]


def model_rules(rules: RecommendationRules | None) -> Rules | None:
    """The model's `Rules` of a validated request (None: no filter or slot rule given, so the
    answer may come from the cache)."""
    if rules is not None and rules.filters == RecommendationFilters():
        rules = rules.model_copy(update={"filters": None})
    if rules is None or rules == RecommendationRules():
        return None
    f = rules.filters or RecommendationFilters()
    return Rules(
        categories=f.categories,
        exclude_categories=tuple(f.exclude_categories),
        exclude_item_ids=tuple(f.exclude_item_ids),
        min_price=f.min_price,
        max_price=f.max_price,
        exclude_bought_within_days=f.exclude_bought_within_days,
        promoted_item_ids=tuple(rules.promoted_item_ids or ()),
        promoted_share=rules.promoted_share or 0.0,
        max_per_category=rules.max_per_category,
    )


def rules_of_request(
    filters: RecommendationFilters | None,
    promoted_item_ids: list[str] | None,
    promoted_share: float | None,
    max_per_category: int | None,
    *,
    customer: bool = True,
) -> Rules | None:
    """The body fields of `/recommendations` (`customer=False`: `/similar_items`) as the
    model's `Rules`; an inconsistent combination is a 400 that names the field."""
    from bentoml.exceptions import InvalidArgument

    if not customer and filters is not None and filters.exclude_bought_within_days is not None:
        raise InvalidArgument("filters.exclude_bought_within_days needs a customer")
    try:
        rules = RecommendationRules(
            filters=filters,
            promoted_item_ids=promoted_item_ids,
            promoted_share=promoted_share,
            max_per_category=max_per_category,
        )
    except ValidationError as exc:
        raise InvalidArgument(exc.errors()[0]["msg"]) from None
    return model_rules(rules)


def recommendations_response(
    model: Any,
    live: LiveEvents | None,
    *,
    customer_id: str,
    k: int,
    exclude_purchased: bool,
    category: str | None,
    cart_item_ids: list[str] | None,
    model_version: str | None,
    cache: AnswerCache | None = None,
    rules: Rules | None = None,
    catalogue: Catalogue | None = None,
) -> RecommendationsResponse:
    known = model.known_customer(customer_id)
    cacheable = (
        cache is not None
        and rules is None
        and category is None
        and cart_item_ids is None
        and exclude_purchased == DEFAULT_EXCLUDE_PURCHASED
    )
    key = (customer_id, k, live.version(customer_id) if live is not None else 0)
    hit = cache.lookup(model, key, catalogue) if cacheable else None
    if hit is None:
        orders, cart, viewed = (
            live.history(customer_id, model.as_of_day) if live is not None else ([], [], [])
        )
        if cart_item_ids is not None:
            cart = list(cart_item_ids)
        # viewed items are context only for a customer with nothing else (and are not re-shown)
        context = cart or (viewed if not known and not orders else [])
        rows = _rows(
            model.recommend(
                customer_id,
                k=k,
                exclude_purchased=exclude_purchased,
                category=category,
                cart_item_ids=context or None,
                live_orders=orders or None,
                rules=rules,
                catalogue=catalogue,
            )
        )
        fallback = None
        if not known and not (orders or context):
            fallback = next((r[2] for r in rows if r[2] != SOURCE_PROMOTED), "none")
        hit = (rows, fallback)
        if cacheable:
            cache.store(model, key, hit, catalogue)
    return RecommendationsResponse(
        customer_id=customer_id,
        known_customer=known,
        fallback=hit[1],
        items=_items(hit[0]),
        model_version=model_version,
    )


def similar_items_response(
    model: Any,
    *,
    item_id: str,
    k: int,
    model_version: str | None,
    rules: Rules | None = None,
    catalogue: Catalogue | None = None,
) -> SimilarItemsResponse:
    known = model.known_item(item_id)
    rows = _rows(model.similar_items(item_id, k=k, rules=rules, catalogue=catalogue))
    return SimilarItemsResponse(
        item_id=item_id,
        known_item=known,
        fallback=None if known else (rows[0][2] if rows else "none"),
        items=_items(rows),
        model_version=model_version,
    )
