"""The OpenAPI document at /docs.json, finished for people who read it, and the docs page.

Adds what BentoML cannot know (bearer scheme, `GET /metadata`, errors, examples). The docs page
replaces BentoML's, which loads Google Tag Manager: only the bundled Swagger UI, same origin.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from starlette.responses import Response

import churnrec
from churnrec import columns as C
from churnrec.columns import Feature, Score
from churnrec.serving import demand
from churnrec.serving.guards import MODEL_ROUTES, App, Scope, send_json
from churnrec.serving.schemas import Metadata

SCHEME = "bearerAuth"
OPEN_PATHS = ("/healthz", "/livez", "/readyz")
DESCRIPTION = """Churn scores, next-purchase timing and product recommendations for one shop.

Every call except the health checks and this page needs `Authorization: Bearer <key>` (the key set in
`CHURNREC_API_KEY`): press **Authorize** and paste it. Scores come from the served snapshot
(`snapshot_as_of`) and the model versions in the answer; `GET /metadata` says which models
serve, since when, and whether the data is stale. Customers without recorded marketing consent
get the action `none` (unknown consent counts as no unless the shop set
`consent_default: allow`). Bodies over `CHURNREC_MAX_BODY_BYTES` (default 1 MiB) get 413, bodies
that are not `application/json` 415; an address with too many failed authentications gets 429
for a minute (`Retry-After`); an endpoint whose model is not served answers 503 with the reason.

Every `/recommendations` and `/similar_items` answer has a `recommendation_id` and per item its
`position` (1-based), and says which `arm` of the recommender A/B served it; it is logged as an
impression. Send both with `/events` when the customer views, adds or buys a shown item:
`churnrec recs readout` attributes the event to that answer, its model version and its arm.
"""

REQUEST_EXAMPLES: dict[str, dict[str, Any]] = {
    "/churn_scores": {"customer_ids": ["C000001", "C000002"]},
    "/next_purchase": {"customer_ids": ["C000001"]},
    "/recommendations": {
        C.CUSTOMER_ID: "C000001",
        "k": 5,
        "exclude_purchased": False,
        "category": None,
        "cart_item_ids": ["I00042"],
        "filters": {
            "categories": None,
            "exclude_categories": ["gift cards"],
            "exclude_item_ids": ["I00013"],
            "min_price": 5.0,
            "max_price": 80.0,
            "exclude_bought_within_days": 30,
        },
        "promoted_item_ids": ["I00100", "I00101"],
        "promoted_share": 0.2,
        "max_per_category": 3,
    },
    "/events": {
        C.CUSTOMER_ID: "C000001",
        "item_id": "I00042",
        "event_type": "add_to_cart",
        "occurred_at": "2025-12-31T10:15:00",
        "recommendation_id": "3f2b8c9e6a0d4e1f9b7c5a2d8e4f6b1c",
        "position": 2,
    },
    "/similar_items": {
        "item_id": "I00042",
        "k": 5,
        "filters": {"exclude_categories": ["gift cards"], "max_price": 80.0},
        "max_per_category": 2,
    },
    "/items": {
        "items": [
            {"item_id": "I00042", "available": False},
            {"item_id": "POST", "recommendable": False},
        ]
    },
    "/reload": {},
}
_REASON = {"feature": Feature.RECENCY_DAYS, "value": 210, "contribution": 0.84}
REQUEST_EXAMPLES["/demand_forecast"] = demand.REQUEST_EXAMPLE
RESPONSE_EXAMPLES: dict[str, dict[str, Any]] = {
    "/churn_scores": {
        "scores": [
            {
                C.CUSTOMER_ID: "C000001",
                "known": True,
                "fallback": None,
                Score.CHURN_PROBABILITY: 0.81,
                Score.RISK_TIER: "high",
                Score.RFM_SEGMENT: "churn_warning",
                Score.LIFECYCLE_STAGE: "lapsed",
                Score.REASONS: ["no order for 210 days, 3x their usual gap of 70 days"],
                Score.TOP_REASONS: [_REASON],
                Score.ACTION: "win_back",
                Score.ACTION_DESCRIPTION: "Win-back campaign: 'we miss you' message with a strong "
                "incentive",
                Score.MARKETING_CONSENT: True,
                Score.CONTACTABLE: True,
            }
        ],
        Score.MODEL_VERSION: "3",
        "snapshot_as_of": "2025-12-31",
    },
    "/next_purchase": {
        "predictions": [
            {
                C.CUSTOMER_ID: "C000001",
                "known": True,
                "fallback": None,
                Score.EXPECTED_DAYS_TO_NEXT_ORDER: 41.5,
                Score.P_ORDER_7D: 0.08,
                Score.P_ORDER_30D: 0.31,
                Score.P_ORDER_90D: 0.62,
            }
        ],
        Score.MODEL_VERSION: "2",
        "snapshot_as_of": "2025-12-31",
    },
    "/recommendations": {
        C.CUSTOMER_ID: "C000001",
        "known_customer": True,
        "fallback": None,
        "items": [
            {
                "item_id": "I00007",
                "score": 2.41,
                "source": "buy_again",
                "kind": "repeat",
                "position": 1,
            },
            {"item_id": "I00042", "score": 0.93, "source": "model", "kind": "new", "position": 2},
            {
                "item_id": "I00100",
                "score": 0.41,
                "source": "promoted",
                "kind": "new",
                "position": 3,
            },
        ],
        Score.MODEL_VERSION: "4",
        "recommendation_id": "3f2b8c9e6a0d4e1f9b7c5a2d8e4f6b1c",
        "arm": "champion",
    },
    "/events": {
        C.CUSTOMER_ID: "C000001",
        "accepted": True,
        "event_type": "add_to_cart",
        "occurred_at": "2025-12-31T10:15:00",
        "cart_size": 1,
        "live_orders": 0,
        "recommendation_id": "3f2b8c9e6a0d4e1f9b7c5a2d8e4f6b1c",
        "arm": "champion",
    },
    "/similar_items": {
        "item_id": "I00042",
        "known_item": True,
        "fallback": None,
        "items": [
            {
                "item_id": "I00077",
                "score": 0.88,
                "source": "bought_together",
                "kind": "new",
                "position": 1,
            }
        ],
        Score.MODEL_VERSION: "4",
        "recommendation_id": "9a1c0e7b5d3f4a2e8c6b4d2f0e8a6c4b",
        "arm": "champion",
    },
    "/items": {"accepted": 2, "hidden": 17},
}
RESPONSE_EXAMPLES["/demand_forecast"] = demand.RESPONSE_EXAMPLE
METADATA_EXAMPLE = {
    "ready": True,
    "serving": ["churn", "repurchase", "recommender"],
    "unavailable": {},
    "models": {
        "churn": {
            "version": "3",
            "run_id": "0f1e...",
            "metrics": {"auc": 0.81},
            "is_baseline": False,
            "baseline_strategy": None,
            "trained_at": "2026-01-02T08:00:00+00:00",
            "data_until": "2025-12-31",
        }
    },
    "versions": {
        "churn": "3",
        "repurchase": "2",
        "recommender": "4",
        "snapshot": "as_of=2025-12-31",
    },
    "snapshot_as_of": "2025-12-31",
    "newest_order_date": "2025-12-31",
    "warnings": [],
    "tier_cuts": {"method": "capacity", "high": 0.72, "medium": 0.51, "at_risk_probability": 0.5},
    "consent_default": "deny",
    "customers_scored": 52000,
    "loaded_at": 1767340800.0,
    "last_reload_error": None,
    "drift": {
        "checked_at": "2026-01-02T02:31:10+00:00",
        "drift": False,
        "reference_as_of": "2025-09-30",
        "current_as_of": "2025-12-31",
        "champion_version": "3",
        "drifted_features": [],
        "drifted_scores": [],
        "champion_auc_degraded": False,
        "champion_roc_auc": 0.79,
        "training_roc_auc": 0.8,
    },
}
ERRORS = {
    "401": "Missing or wrong API key",
    "413": "Request body larger than CHURNREC_MAX_BODY_BYTES",
    "415": "Request body not sent as Content-Type: application/json",
    "429": "Too many failed authentications from this address; wait Retry-After seconds",
    "503": "The model behind this endpoint is not served (the body says why) or still loading",
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": {"error": {"type": "string"}}}
            }
        },
    }


def customize(spec: dict[str, Any]) -> dict[str, Any]:
    """A finished copy of BentoML's generated spec (see the module docstring)."""
    spec = copy.deepcopy(spec)
    spec["info"] = {
        "title": "churnrec",
        "version": churnrec.__version__,
        "description": DESCRIPTION,
    }
    components = spec.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "The API key of CHURNREC_API_KEY / CHURNREC_API_KEY_FILE",
    }
    spec["security"] = [{SCHEME: []}]
    paths: dict[str, Any] = spec.setdefault("paths", {})
    paths.pop("/noop", None)  # benchmark-only route, never documented
    for path in OPEN_PATHS:
        for operation in paths.get(path, {}).values():
            operation["security"] = []
    components.setdefault("schemas", {})["Metadata"] = Metadata.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    paths["/metadata"] = {
        "get": {
            "tags": ["Service APIs"],
            "description": "Which models serve (versions, baseline or not, training dates), "
            "the served snapshot date, the newest ingested order date and stale-data warnings",
            "operationId": "churnrec__metadata",
            "responses": {
                "200": {
                    "description": "Successful Response",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/Metadata"},
                            "example": METADATA_EXAMPLE,
                        }
                    },
                },
                "401": _error(ERRORS["401"]),
                "429": _error(ERRORS["429"]),
            },
        }
    }
    for path, item in paths.items():
        post = item.get("post")
        if post is None:
            continue
        # BentoML keys responses by int status; JSON (and this code) by string
        post["responses"] = {str(k): v for k, v in post.get("responses", {}).items()}
        if path in REQUEST_EXAMPLES and "requestBody" in post:
            media = post["requestBody"].setdefault("content", {}).setdefault("application/json", {})
            media["example"] = REQUEST_EXAMPLES[path]
        ok = post.get("responses", {}).get("200", {}).get("content", {}).get("application/json")
        example = METADATA_EXAMPLE if path == "/reload" else RESPONSE_EXAMPLES.get(path)
        if ok is not None and example is not None:
            ok["example"] = example
        for code, description in ERRORS.items():  # 503 only where a model answers
            if code != "503" or path in MODEL_ROUTES:
                post["responses"][code] = _error(description)
    return spec


DOCS_PAGE = b"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>churnrec API</title>
<link rel="stylesheet" href="./static_content/swagger-ui.css">
<link rel="stylesheet" href="./static_content/index.css">
<link rel="icon" type="image/png" href="./static_content/favicon-light-32x32.png">
</head>
<body>
<noscript>The interactive docs need JavaScript; the OpenAPI document is
<a href="./docs.json">docs.json</a>.</noscript>
<div id="swagger-ui"></div>
<script src="./static_content/swagger-ui-bundle.js" charset="utf-8"></script>
<script src="./docs.js" charset="utf-8"></script>
</body>
</html>
"""
# validatorUrl null: Swagger UI would otherwise show a badge fetched from validator.swagger.io.
DOCS_SCRIPT = b"""window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "./docs.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
};
"""
# Same origin only; Swagger UI sets inline styles and uses data: images for its icons.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
DOCS_HEADERS = {
    "content-security-policy": DOCS_CSP,
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}
READS = frozenset({"GET", "HEAD"})
DOCS_FILES = {
    "/": (DOCS_PAGE, "text/html; charset=utf-8"),
    "/docs.js": (DOCS_SCRIPT, "text/javascript; charset=utf-8"),
}


class OpenApiMiddleware:
    """Serves the finished document at GET /docs.json (built once per worker) and the docs
    page (`/`, `/docs.js`) that reads it."""

    def __init__(self, app: App, spec_factory: Callable[[], dict[str, Any]]) -> None:
        self.app = app
        self.spec_factory = spec_factory
        self._spec: dict[str, Any] | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        path = scope.get("path")
        if scope["type"] == "http" and path in DOCS_FILES and scope.get("method") in READS:
            body, media_type = DOCS_FILES[path]
            await Response(body, headers=DOCS_HEADERS, media_type=media_type)(scope, receive, send)
            return
        if scope["type"] != "http" or path != "/docs.json":
            await self.app(scope, receive, send)
            return
        if self._spec is None:
            # through JSON once: the generated spec may hold non-JSON types (enums)
            self._spec = json.loads(json.dumps(customize(self.spec_factory()), default=str))
        await send_json(send, 200, self._spec)
