"""The churnrec HTTP service (BentoML 1.4), built by `build_service(settings)`.

Importing reads no variable and starts nothing; `ChurnRec` is built on first access. A
background thread loads the models and swaps in a new state when the inputs change.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import asdict
from http import HTTPStatus
from typing import Any, ClassVar

import bentoml
from bentoml.exceptions import BentoMLException

from churnrec.models.recommender import DEFAULT_EXCLUDE_PURCHASED
from churnrec.scores.config import load_serving_config
from churnrec.serving import quiet_logs, request_timeout
from churnrec.serving.app_routes import SERVICES, mounted_app
from churnrec.serving.auth import ApiKeyMiddleware
from churnrec.serving.catalogue import ItemRule, ItemsAccepted, ItemsUpdate, LiveCatalogue
from churnrec.serving.demand import (
    DemandForecastResponse,
    ItemIdList,
    Weeks,
    demand_forecast_response,
)
from churnrec.serving.events import EventAccepted, EventType, LiveEvent, LiveEvents, OccurredAt
from churnrec.serving.guards import BodyLimitMiddleware, JsonOnlyMiddleware, ReadinessMiddleware
from churnrec.serving.impressions import RecommendationLog, finish_answer, served_recommender
from churnrec.serving.latency_probe import LatencyProbeMiddleware
from churnrec.serving.openapi import OpenApiMiddleware
from churnrec.serving.recommend import (
    AnswerCache,
    recommendations_response,
    rules_of_request,
    similar_items_response,
)
from churnrec.serving.schemas import (
    CartIds,
    ChurnScoresResponse,
    Flag,
    Id,
    IdList,
    K,
    Metadata,
    NextPurchaseResponse,
    PerCategory,
    Position,
    PromotedIds,
    PromotedShare,
    RecommendationFilters,
    RecommendationId,
    RecommendationsResponse,
    SimilarItemsResponse,
)
from churnrec.serving.settings import ServiceSettings
from churnrec.serving.state import ServingState, load_state
from churnrec.serving.views import churn_score, next_purchase
from churnrec.serving.watch import input_fingerprint
from churnrec.workspace import Workspace

logger = logging.getLogger("churnrec.serving")


class NotServing(BentoMLException):
    """A model kind has no champion (e.g. no recommender for orders without item ids)."""

    error_code = HTTPStatus.NOT_FOUND


class NotReady(BentoMLException):
    error_code = HTTPStatus.SERVICE_UNAVAILABLE


class ChurnRecApi:
    """Churn scores, next-purchase timing and recommendations for one shop."""

    settings: ClassVar[ServiceSettings]  # set by `build_service` on the class it serves

    def __init__(self) -> None:
        quiet_logs.install()
        settings = self.settings
        self.workspace = Workspace.at(settings.workspace)
        self.config = load_serving_config(settings.serving_config, settings.consent_default)
        for line in self.config.warnings():
            logger.warning(line)
        self.state: ServingState | None = None
        self._reload_lock = threading.Lock()
        self._last_error: str | None = None
        self._live = LiveEvents(
            self.workspace, settings.events_sync, settings.events_sync_ms / 1000
        )
        self._answers = AnswerCache()
        self._challenger_answers = AnswerCache()  # the A/B's second model keeps its own cache
        self._recs = RecommendationLog(self.workspace, settings.events_sync_ms / 1000)
        self._catalogue = LiveCatalogue(self.workspace)
        SERVICES.append(self)
        threading.Thread(target=self._load_and_watch, name="churnrec-loader", daemon=True).start()

    # --- lifecycle -------------------------------------------------------------------------
    def __is_ready__(self) -> bool:
        return self.state is not None and bool(self.state.serving)

    def _load_and_watch(self) -> None:
        while True:
            try:
                state = self.state
                if state is None or (
                    input_fingerprint(self.workspace, self.settings.as_of, state.fingerprint)
                    != state.fingerprint
                ):
                    self.reload()
            except Exception as exc:  # noqa: BLE001 - the watch must outlive a broken store
                error = f"{type(exc).__name__}: {exc}"
                if error != self._last_error:  # one line per new problem, not one per poll
                    logger.warning("churnrec: loading models failed: %s", error)
                self._last_error = error
            if self.settings.reload_seconds <= 0 and self.state is not None:
                return
            time.sleep(self.settings.reload_seconds or 2.0)

    def reload(self) -> ServingState:
        """Build a new state from the registry and swap it in; in-flight calls keep the old."""
        with self._reload_lock:
            state = load_state(self.workspace, self.config, self.settings.as_of)
            previous = self.state
            self.state = state
            self._last_error = None
            if previous is None or previous.unavailable != state.unavailable:
                for name, reason in state.unavailable.items():
                    logger.warning("churnrec: %s not served: %s", name, reason)
            # The state is hundreds of thousands of long-lived objects; without this every
            # full garbage collection walks them all and shows up as a p99 spike. Unfreezing
            # first lets this one collection free the previous state's reference cycles.
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            return state

    def _require_state(self) -> ServingState:
        state = self.state
        if state is None:
            raise NotReady("models are still loading; poll /readyz")
        return state

    # --- endpoints ---------------------------------------------------------------------------
    @bentoml.api(route="/churn_scores")
    async def churn_scores(self, customer_ids: IdList) -> ChurnScoresResponse:
        """Churn probability, risk tier, segment, lifecycle stage, top reasons and action."""
        state = self._require_state()
        scores = [churn_score(state, cid) for cid in customer_ids]
        return ChurnScoresResponse(
            scores=scores,
            model_version=state.versions.churn,
            snapshot_as_of=state.snapshot_as_of,
            warning=state.model_details.get("churn", {}).get("warning"),
        )

    @bentoml.api(route="/next_purchase")
    async def next_purchase(self, customer_ids: IdList) -> NextPurchaseResponse:
        """Expected days to the next order and P(order within 7 / 30 / 90 days)."""
        state = self._require_state()
        return NextPurchaseResponse(
            predictions=[next_purchase(state, cid) for cid in customer_ids],
            model_version=state.versions.repurchase,
            snapshot_as_of=state.snapshot_as_of,
        )

    @bentoml.api(route="/recommendations")
    async def recommendations(
        self,
        customer_id: Id,
        k: K = 10,
        exclude_purchased: Flag = DEFAULT_EXCLUDE_PURCHASED,
        category: str | None = None,
        cart_item_ids: CartIds | None = None,
        filters: RecommendationFilters | None = None,
        promoted_item_ids: PromotedIds | None = None,
        promoted_share: PromotedShare | None = None,
        max_per_category: PerCategory | None = None,
    ) -> RecommendationsResponse:
        """Ranked items (repeat and new, each flagged) as measured in training; the current
        cart gets complements not in it; new customers get popular items, flagged. Items the
        catalogue hides never come back; `filters`, promoted items and `max_per_category`
        apply before the top-k cut. Each answer has a `recommendation_id` and item `position`s
        (logged as an impression) and the A/B `arm` that served it."""
        state = self._require_state()
        _recommender(state)
        served = served_recommender(state, self._recs, customer_id)
        response = recommendations_response(
            served.model,
            self._live,
            customer_id=customer_id,
            k=k,
            exclude_purchased=exclude_purchased,
            category=category,
            cart_item_ids=cart_item_ids,
            model_version=served.version,
            cache=self._answers if served.model is state.recommender else self._challenger_answers,
            rules=rules_of_request(filters, promoted_item_ids, promoted_share, max_per_category),
            catalogue=self._catalogue.for_model(served.model),
        )
        return finish_answer(
            response, self._recs, served, surface="recommendations", customer_id=customer_id
        )

    @bentoml.api(route="/events")
    def events(
        self,
        customer_id: Id,
        item_id: Id,
        event_type: EventType,
        occurred_at: OccurredAt | None = None,
        recommendation_id: RecommendationId | None = None,
        position: Position | None = None,
    ) -> EventAccepted:
        """Record a purchase / add_to_cart / view now: the next /recommendations reflects it.

        Every field is checked by the input model (ids, type, ingest's date rules), so a bad
        event gets the same 400 shape as any other bad request. An event that names the answer
        it came from (`recommendation_id`, `position`) is attributed to it and its arm.
        """
        if position is not None and recommendation_id is None:
            raise BentoMLException(
                "position needs the recommendation_id of the answer it is a position in",
                error_code=HTTPStatus.BAD_REQUEST,
            )
        event = LiveEvent(
            customer_id=customer_id, item_id=item_id, event_type=event_type, occurred_at=occurred_at
        )
        accepted = self._live.record(event)
        if recommendation_id is not None:
            accepted.recommendation_id = recommendation_id
            accepted.arm = self._recs.event(
                recommendation_id=recommendation_id,
                position=position,
                customer_id=customer_id,
                item_id=item_id,
                event_type=event_type,
                occurred_at=accepted.occurred_at,
            )
        return accepted

    @bentoml.api(route="/similar_items")
    async def similar_items(
        self,
        item_id: Id,
        k: K = 10,
        filters: RecommendationFilters | None = None,
        max_per_category: PerCategory | None = None,
    ) -> SimilarItemsResponse:
        """Items often bought with this one; unknown items get popular ones, flagged. The
        catalogue, `filters` (all but `exclude_bought_within_days`) and `max_per_category`
        apply before the top-k cut."""
        state = self._require_state()
        model = _recommender(state)
        response = similar_items_response(
            model,
            item_id=item_id,
            k=k,
            model_version=state.versions.recommender,
            rules=rules_of_request(filters, None, None, max_per_category, customer=False),
            catalogue=self._catalogue.for_model(model),
        )
        served = served_recommender(state, self._recs, None)  # no customer: the champion
        return finish_answer(
            response, self._recs, served, surface="similar_items", customer_id=None
        )

    @bentoml.api(route="/items")
    def items(self, items: list[ItemRule]) -> ItemsAccepted:
        """Set items' `available` / `recommendable` flags: on disk before the answer, served
        at once by every worker, no retraining (the models keep them as history)."""
        return self._catalogue.record(ItemsUpdate(items=items))

    @bentoml.api(route="/demand_forecast")
    async def demand_forecast(
        self, item_ids: ItemIdList, weeks: Weeks = 8
    ) -> DemandForecastResponse:
        """Weekly units (80%/95% intervals, revenue) per item; cold and unknown items get a
        fallback that says so."""
        state = self._require_state()
        return demand_forecast_response(state.demand, item_ids, weeks, state.versions.demand)

    @bentoml.api(route="/reload")
    def reload_models(self) -> Metadata:
        """Load the current champions and newest snapshot now (also happens automatically)."""
        try:
            self.reload()
        except Exception as exc:
            self._last_error = f"{type(exc).__name__}: {exc}"
            raise BentoMLException(
                f"reload failed, still serving the previous models: {self._last_error}",
                error_code=HTTPStatus.CONFLICT,
            ) from exc
        return self.metadata_view()

    def metadata_view(self) -> Metadata:
        state = self.state
        at_risk = self.config.tiers.at_risk_probability
        return Metadata(
            ready=bool(state and state.serving),
            serving=state.serving if state else [],
            unavailable=state.unavailable if state else {},
            models=state.model_details if state else {},
            versions=state.versions.as_dict() if state else {},
            snapshot_as_of=state.snapshot_as_of if state else None,
            newest_order_date=state.newest_order_date if state else None,
            warnings=list(state.warnings) if state else [],
            tier_cuts={**asdict(state.tier_cuts), "at_risk_probability": at_risk} if state else {},
            consent_default=self.config.consent_default,
            customers_scored=state.n_customers if state else 0,
            loaded_at=state.loaded_at if state else None,
            last_reload_error=self._last_error,
            drift=state.drift if state else None,
        )


def _recommender(state: ServingState) -> Any:
    if state.recommender is None:
        raise NotServing(
            "no recommender is being served (none trained: the orders may have no item ids)"
        )
    return state.recommender


@bentoml.api(route="/noop")
async def noop(self: ChurnRecApi) -> dict[str, bool]:
    """Does nothing: the framework's latency floor, for benchmarks."""
    return {"ok": True}


def build_service(settings: ServiceSettings) -> bentoml.Service[ChurnRecApi]:
    """The service these settings describe; nothing starts until BentoML builds its app."""
    if not settings.benchmark_bentoml_timeout:  # "before", for the benchmark
        request_timeout.install()  # before BentoML builds the app: see serving/request_timeout.py
    body: dict[str, Any] = {"settings": settings, "__doc__": ChurnRecApi.__doc__}
    if settings.benchmark_routes:  # only the latency benchmarks set it
        body["noop"] = noop
    service = bentoml.service(
        name="churnrec",
        workers=settings.workers,
        traffic={"timeout": 60},
        logging={"access": {"enabled": settings.access_log}},
    )(type("ChurnRec", (ChurnRecApi,), body))
    # Mounted last by BentoML, so it only sees paths no API route took.
    service.mount_asgi_app(mounted_app(), path="/")
    # Outermost first: oversized bodies are refused before anything else reads them.
    if settings.benchmark_routes:  # where a request's time goes (benchmarks only)
        service.add_asgi_middleware(LatencyProbeMiddleware)
    service.add_asgi_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    service.add_asgi_middleware(ApiKeyMiddleware, settings=settings)
    service.add_asgi_middleware(JsonOnlyMiddleware)
    service.add_asgi_middleware(ReadinessMiddleware)
    service.add_asgi_middleware(
        OpenApiMiddleware, spec_factory=lambda: service.openapi_spec.asdict()
    )
    return service


def __getattr__(name: str) -> Any:
    """`ChurnRec`, which `bentoml serve` and each worker ask for, built once from the environment."""
    if name != "ChurnRec":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    service = globals()["ChurnRec"] = build_service(ServiceSettings.load())
    return service
