"""`/recommendations` logic: the served model's own `recommend`, plus live events and the cart.

Default requests (no category, no explicit cart, `exclude_purchased` at its default) are
cached per (model, customer, k, live-event version): the first answer is computed by the model,
repeats are a dictionary lookup. Entries are tuples of plain values, not response objects: the
garbage collector stops tracking those, so a full cache adds nothing to its pauses. A live event bumps the customer's version, a reload brings a
new model, so a cached answer is never stale.

The request defaults (`exclude_purchased=False`: repeat + new items) are the model's
`DEFAULT_EXCLUDE_PURCHASED`, the same ones the training job measured. The cart is the request's
`cart_item_ids`, else the customer's live cart from `POST /events`; its items are never
recommended. A model from before the repeat-aware ranker (plain ALS) is still served, without
cart or live context.
"""

from __future__ import annotations

from typing import Any

from churnrec.models.reranker import DEFAULT_EXCLUDE_PURCHASED, KIND_NEW, KIND_REPEAT
from churnrec.serving.events import LiveEvents
from churnrec.serving.schemas import RecommendationsResponse, RecommendedItem

__all__ = ["DEFAULT_EXCLUDE_PURCHASED", "AnswerCache", "recommendations_response"]

MAX_CACHED_ANSWERS = 200_000
CachedItem = tuple[str, float, str | None, str | None]  # item_id, score, source, kind


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
    if not hasattr(model, "rank_block"):  # a plain ALS champion trained before this ranker
        items = model.recommend(
            customer_id, k=k, exclude_purchased=exclude_purchased, category=category
        )
        answer = [
            RecommendedItem(item_id=r.item_id, score=r.score, source=r.source, kind=None)
            for r in items
        ]
        return RecommendationsResponse(
            customer_id=customer_id,
            known_customer=known,
            fallback=None if known else (items[0].source if items else "none"),
            items=answer,
            model_version=model_version,
        )
    cacheable = (
        cache is not None
        and category is None
        and cart_item_ids is None
        and exclude_purchased == DEFAULT_EXCLUDE_PURCHASED
    )
    key = (customer_id, k, live.version(customer_id) if live is not None else 0)
    if cacheable:
        hit = cache.lookup(model, key)
        if hit is not None:
            return RecommendationsResponse(
                customer_id=customer_id,
                known_customer=known,
                fallback=hit[1],
                items=[
                    RecommendedItem.model_construct(
                        item_id=item_id, score=score, source=source, kind=kind
                    )
                    for item_id, score, source, kind in hit[0]
                ],
                model_version=model_version,
            )
    orders, cart, viewed = (
        live.history(customer_id, model.as_of_day) if live is not None else ([], [], [])
    )
    if cart_item_ids is not None:
        cart = list(cart_item_ids)
    # viewed items are context only for a customer with nothing else (and are not re-shown)
    context = cart or (viewed if not known and not orders else [])
    items = model.recommend(
        customer_id,
        k=k,
        exclude_purchased=exclude_purchased,
        category=category,
        cart_item_ids=context or None,
        live_orders=orders or None,
    )
    has_context = bool(orders or context)
    fallback = None
    if not known and not has_context:
        fallback = items[0].source if items else "none"
    answer = [
        RecommendedItem(
            item_id=r.item_id,
            score=r.score,
            source=r.source,
            kind=r.kind if r.kind in (KIND_REPEAT, KIND_NEW) else None,
        )
        for r in items
    ]
    if cacheable:
        plain = tuple((a.item_id, a.score, a.source, a.kind) for a in answer)
        cache.store(model, key, (plain, fallback))
    return RecommendationsResponse(
        customer_id=customer_id,
        known_customer=known,
        fallback=fallback,
        items=answer,
        model_version=model_version,
    )
