"""`/recommendations` and `/similar_items`: the served model's ranking table, plus live events
and the cart, as response objects.

Default requests (no category, no explicit cart, `exclude_purchased` at its default) are
cached per (model, customer, k, live-event version): the first answer is computed by the model,
repeats are a dictionary lookup. Entries are tuples of plain values, not response objects: the
garbage collector stops tracking those, so a full cache adds nothing to its pauses. A live
event bumps the customer's version, a reload brings a new model, so a cached answer is never
stale.

The request defaults (`exclude_purchased=False`: repeat + new items) are the model's
`DEFAULT_EXCLUDE_PURCHASED`, the same ones the training job measured. The cart is the request's
`cart_item_ids`, else the customer's live cart from `POST /events`; its items are never
recommended.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from churnrec import columns as C
from churnrec.models.recommender import DEFAULT_EXCLUDE_PURCHASED, KIND, SCORE, SOURCE
from churnrec.serving.events import LiveEvents
from churnrec.serving.schemas import (
    RecommendationsResponse,
    RecommendedItem,
    SimilarItemsResponse,
)

__all__ = [
    "DEFAULT_EXCLUDE_PURCHASED",
    "AnswerCache",
    "recommendations_response",
    "similar_items_response",
]

MAX_CACHED_ANSWERS = 200_000
CachedItem = tuple[str, float, str, str]  # item_id, score, source, kind


class AnswerCache:
    """Default answers of one model; cleared when the model changes or when it is full."""

    def __init__(self, max_entries: int = MAX_CACHED_ANSWERS) -> None:
        self.max_entries = max_entries
        self._model: Any = None
        self._answers: dict[tuple[str, int, int], tuple[tuple[CachedItem, ...], str | None]] = {}

    def lookup(self, model: Any, key: tuple[str, int, int]):
        if model is not self._model:
            self._model, self._answers = model, {}
            return None
        return self._answers.get(key)

    def store(self, model: Any, key: tuple[str, int, int], value) -> None:
        if model is not self._model:
            self._model, self._answers = model, {}
        if len(self._answers) >= self.max_entries:
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
) -> RecommendationsResponse:
    known = model.known_customer(customer_id)
    cacheable = (
        cache is not None
        and category is None
        and cart_item_ids is None
        and exclude_purchased == DEFAULT_EXCLUDE_PURCHASED
    )
    key = (customer_id, k, live.version(customer_id) if live is not None else 0)
    hit = cache.lookup(model, key) if cacheable else None
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
            )
        )
        fallback = None
        if not known and not (orders or context):
            fallback = rows[0][2] if rows else "none"
        hit = (rows, fallback)
        if cacheable:
            cache.store(model, key, hit)
    return RecommendationsResponse(
        customer_id=customer_id,
        known_customer=known,
        fallback=hit[1],
        items=_items(hit[0]),
        model_version=model_version,
    )


def similar_items_response(
    model: Any, *, item_id: str, k: int, model_version: str | None
) -> SimilarItemsResponse:
    known = model.known_item(item_id)
    rows = _rows(model.similar_items(item_id, k=k))
    return SimilarItemsResponse(
        item_id=item_id,
        known_item=known,
        fallback=None if known else (rows[0][2] if rows else "none"),
        items=_items(rows),
        model_version=model_version,
    )
