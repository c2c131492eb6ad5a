"""The real BentoML server on 127.0.0.1, called over HTTP: every endpoint, auth, 4xx, reload."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.server_process import running_server as serve_workspace
from tests.trained_workspace import trained_workspace_copy

pytestmark = pytest.mark.slow
API_KEY = "test-key-123"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory):
    return trained_workspace_copy(tmp_path_factory, tmp_path_factory.mktemp("served"))


def running_server(root: Path, *extra_args: str) -> AbstractContextManager[str]:
    """`churnrec serve` on `root` (reload every second) until ready; yields the base URL."""
    return serve_workspace(root, API_KEY, "--reload-seconds", "1", *extra_args)


@pytest.fixture(scope="module")
def server(workspace) -> Iterator[str]:
    with running_server(workspace.root) as base:
        yield base


@pytest.fixture(scope="module")
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
    ) as c:
        yield c


@pytest.fixture(scope="module")
def snapshot(workspace) -> pd.DataFrame:
    return pd.read_parquet(workspace.latest_snapshot_dir() / "customer_snapshot.parquet")


def test_health_checks_are_open(server: str) -> None:
    assert httpx.get(f"{server}/healthz").status_code == 200
    assert httpx.get(f"{server}/readyz").status_code == 200


@pytest.mark.parametrize(
    "path", ["/churn_scores", "/next_purchase", "/recommendations", "/similar_items"]
)
def test_endpoints_need_a_valid_key(server: str, path: str) -> None:
    assert httpx.post(f"{server}{path}", json={}).status_code == 401
    bad = httpx.post(f"{server}{path}", json={}, headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 401
    assert "invalid API key" in bad.json()["error"]
    assert httpx.get(f"{server}/metadata").status_code == 401


def test_churn_scores_for_known_and_unknown_customers(client: httpx.Client, snapshot) -> None:
    known = snapshot["customer_id"].iloc[0]
    body = client.post("/churn_scores", json={"customer_ids": [known, "no-such-customer"]}).json()
    first, unknown = body["scores"]
    assert first["customer_id"] == known and first["known"] is True
    assert 0.0 <= first["churn_probability"] <= 1.0
    assert first["risk_tier"] in {"low", "medium", "high"}
    assert first["rfm_segment"] == snapshot["rfm_segment"].iloc[0]
    assert len(first["top_reasons"]) == 3 and first["action"]
    assert all(isinstance(r, str) and "=" not in r for r in first["reasons"])
    assert unknown["known"] is False and unknown["fallback"] == "new_customer_prior"
    assert body["model_version"] is not None and body["snapshot_as_of"]


def test_numeric_ids_are_read_as_string_ids(client: httpx.Client, snapshot) -> None:
    known = snapshot["customer_id"].iloc[0]
    body = client.post("/churn_scores", json={"customer_ids": [12345]}).json()
    assert body["scores"][0]["customer_id"] == "12345"
    assert client.post("/churn_scores", json={"customer_ids": [known]}).status_code == 200


def test_next_purchase(client: httpx.Client, snapshot) -> None:
    known = snapshot["customer_id"].iloc[1]
    body = client.post("/next_purchase", json={"customer_ids": [known, "nobody"]}).json()
    pred, unknown = body["predictions"]
    assert pred["known"] is True and pred["expected_days_to_next_order"] > 0
    assert 0 <= pred["p_order_7d"] <= pred["p_order_30d"] <= pred["p_order_90d"] <= 1
    assert unknown["known"] is False and unknown["fallback"]


def test_recommendations_known_and_new_customer(client: httpx.Client, snapshot) -> None:
    known = snapshot.sort_values("frequency")["customer_id"].iloc[-1]
    body = client.post("/recommendations", json={"customer_id": known, "k": 5}).json()
    assert body["known_customer"] is True and body["fallback"] is None
    assert len(body["items"]) == 5
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)
    new = client.post("/recommendations", json={"customer_id": "brand-new", "k": 4}).json()
    assert new["known_customer"] is False and new["fallback"] == "popular"
    assert len(new["items"]) == 4 and all(i["source"] == "popular" for i in new["items"])


def test_similar_items(client: httpx.Client, workspace) -> None:
    items = pd.read_parquet(workspace.table_path("items"))
    item = items["item_id"].iloc[0]
    body = client.post("/similar_items", json={"item_id": item, "k": 3}).json()
    assert body["known_item"] is True and len(body["items"]) == 3
    assert item not in [i["item_id"] for i in body["items"]]
    unknown = client.post("/similar_items", json={"item_id": "no-such-item", "k": 3}).json()
    assert unknown["known_item"] is False and unknown["fallback"]


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/recommendations", {"customer_id": "C1", "k": 0}),
        ("/recommendations", {"customer_id": "C1", "k": 1000}),
        ("/recommendations", {"customer_id": ["C1"]}),
        ("/recommendations", {"k": 3}),
        ("/churn_scores", {"customer_ids": "C1"}),
        ("/churn_scores", {"customer_ids": []}),
        ("/churn_scores", {"customer_ids": [f"C{i}" for i in range(1001)]}),
        ("/churn_scores", {"customer_ids": [True]}),
        ("/recommendations", {"customer_id": "C1", "k": True}),  # a boolean is not 1
        ("/recommendations", {"customer_id": "C1", "exclude_purchased": 1}),
        ("/similar_items", {"item_id": None}),
    ],
)
def test_malformed_requests_get_4xx_with_a_message(
    client: httpx.Client, path: str, payload
) -> None:
    response = client.post(path, json=payload)
    assert 400 <= response.status_code < 500, response.text
    assert "error" in response.text


def test_invalid_json_is_a_4xx(client: httpx.Client) -> None:
    response = client.post(
        "/churn_scores", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500


def test_metadata_names_versions_and_snapshot(client: httpx.Client, workspace) -> None:
    body = client.get("/metadata").json()
    assert body["ready"] is True
    assert set(body["versions"]) >= {"churn", "repurchase", "recommender", "snapshot"}
    assert body["versions"]["churn"] is not None
    assert body["snapshot_as_of"] == workspace.latest_snapshot_dir().name.removeprefix("as_of=")


def test_new_champion_is_picked_up_without_failing_requests(
    client: httpx.Client, workspace, snapshot
) -> None:
    from mlflow import MlflowClient

    ids = list(snapshot["customer_id"].iloc[:50])
    failures: list[str] = []
    done = threading.Event()
    calls = 0

    def hammer() -> None:
        nonlocal calls
        with httpx.Client(
            base_url=str(client.base_url), headers=dict(client.headers), timeout=30
        ) as c:
            while not done.is_set():
                r = c.post("/churn_scores", json={"customer_ids": ids})
                calls += 1
                if r.status_code != 200 or len(r.json()["scores"]) != len(ids):
                    failures.append(f"{r.status_code}: {r.text[:200]}")
                r = c.post("/recommendations", json={"customer_id": ids[0], "k": 5})
                if r.status_code != 200:
                    failures.append(f"{r.status_code}: {r.text[:200]}")

    before = client.get("/metadata").json()["versions"]["churn"]
    mc = MlflowClient(tracking_uri=workspace.tracking_uri, registry_uri=workspace.tracking_uri)
    champion = mc.get_model_version_by_alias("churn", "champion")
    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    new_version = str(
        mc.create_model_version("churn", champion.source, run_id=champion.run_id).version
    )
    mc.set_registered_model_alias("churn", "champion", new_version)
    deadline = time.time() + 60
    while client.get("/metadata").json()["versions"]["churn"] != new_version:
        assert time.time() < deadline, "new champion was not picked up"
        time.sleep(0.5)
    time.sleep(1.0)
    done.set()
    for t in threads:
        t.join()
    assert before != new_version
    assert calls > 5
    assert failures == []
    # the explicit reload endpoint works too
    assert client.post("/reload", json={}).json()["versions"]["churn"] == new_version


def test_openapi_docs_are_served_and_list_every_endpoint(server: str) -> None:
    spec = httpx.get(f"{server}/docs.json").json()
    for path in (
        "/churn_scores",
        "/next_purchase",
        "/recommendations",
        "/similar_items",
        "/reload",
    ):
        assert path in spec["paths"]
    assert httpx.get(f"{server}/").status_code == 200


# --- consent (issue 8, items 3 and 4) --------------------------------------------------------
def _set_consent(workspace, ids: list[str], value) -> None:
    """Rewrite the customers table in place, as a re-ingest does (same file name)."""
    customers = pd.read_parquet(workspace.table_path("customers"))
    customers["marketing_consent"] = customers["marketing_consent"].astype("boolean")
    customers.loc[customers["customer_id"].isin(ids), "marketing_consent"] = value
    customers.to_parquet(workspace.table_path("customers"), index=False)


def test_no_marketing_action_for_customers_without_consent(
    client: httpx.Client, workspace, snapshot
) -> None:
    customers = pd.read_parquet(workspace.table_path("customers"))
    opted_out = customers.loc[customers["marketing_consent"].eq(False), "customer_id"]
    ids = [c for c in opted_out if c in set(snapshot["customer_id"])][:50]
    assert ids
    scores = client.post("/churn_scores", json={"customer_ids": ids}).json()["scores"]
    assert {s["action"] for s in scores} <= {"none", "no_action"}  # never a campaign
    assert "none" in {s["action"] for s in scores}
    assert all(s["marketing_consent"] is False and s["contactable"] is False for s in scores)
    assert all(0 <= s["churn_probability"] <= 1 for s in scores)  # the score is still shown


def test_consent_change_reaches_the_service_without_reload(
    client: httpx.Client, workspace, snapshot
) -> None:
    ids = list(snapshot["customer_id"])
    scores = client.post("/churn_scores", json={"customer_ids": ids[:1000]}).json()["scores"]
    marketed = [s["customer_id"] for s in scores if s["action"] not in {"none", "no_action"}]
    withdrawn, unknown = marketed[:3], marketed[3:6]
    assert len(unknown) == 3
    _set_consent(workspace, withdrawn, False)
    _set_consent(workspace, unknown, pd.NA)
    deadline = time.time() + 30
    while True:  # no POST /reload: the watch must notice the rewritten file by itself
        body = client.post("/churn_scores", json={"customer_ids": withdrawn + unknown}).json()
        if all(s["action"] == "none" for s in body["scores"]):
            break
        assert time.time() < deadline, f"consent change not picked up: {body['scores']}"
        time.sleep(0.5)
    by_id = {s["customer_id"]: s for s in body["scores"]}
    assert all(by_id[c]["marketing_consent"] is False for c in withdrawn)
    assert all(by_id[c]["marketing_consent"] is None for c in unknown)
    assert not any(s["contactable"] for s in body["scores"])


# --- request limits and logs (issue 8, items 14 and 15) --------------------------------------
def test_oversized_bodies_get_413(client: httpx.Client, snapshot) -> None:
    big = {"customer_ids": ["C" + "0" * 250] * 5000}  # about 1.3 MB of JSON
    assert client.post("/churn_scores", json=big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must still hold
        yield b'{"customer_ids": ['
        for _ in range(3000):
            yield b'"' + b"x" * 500 + b'",'
        yield b'"x"]}'

    chunked = client.post(
        "/churn_scores", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert chunked.status_code == 413
    ok = client.post("/churn_scores", json={"customer_ids": list(snapshot["customer_id"][:5])})
    assert ok.status_code == 200


def test_rejected_requests_log_one_warning_without_the_input(
    client: httpx.Client, workspace
) -> None:
    log = workspace.root / "server.log"
    before = log.stat().st_size
    for _ in range(3):
        bad = client.post("/churn_scores", json={"customer_ids": ["alice@example.com", True]})
        assert bad.status_code == 400
    for _ in range(20):
        assert client.post("/churn_scores", json={"customer_ids": ["C1"]}).status_code == 200
    time.sleep(1.0)
    with open(log) as f:
        f.seek(before)
        new = f.read()
    assert "alice@example.com" not in new
    assert "Traceback" not in new
    warnings = [line for line in new.splitlines() if "rejected request on /churn_scores" in line]
    assert len(warnings) == 3 and all("WARNING" in line for line in warnings), new[-2000:]
    assert "method=POST" not in new  # no access log by default


# --- docs and metadata (issue 9) ---------------------------------------------------------------
def test_api_docs_declare_bearer_auth_every_route_and_examples(server: str) -> None:
    from importlib.metadata import version

    spec = httpx.get(f"{server}/docs.json").json()
    assert spec["info"]["version"] == version("churnrec")
    assert "Authorization: Bearer" in spec["info"]["description"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert spec["security"] == [{"bearerAuth": []}]
    assert spec["paths"]["/readyz"]["get"]["security"] == []
    assert "/metadata" in spec["paths"] and "/noop" not in spec["paths"]
    for path in ("/churn_scores", "/next_purchase", "/recommendations", "/similar_items"):
        post = spec["paths"][path]["post"]
        assert post["requestBody"]["content"]["application/json"]["example"]
        assert post["responses"]["200"]["content"]["application/json"]["example"]
        assert {"401", "413", "415", "429", "503"} <= set(post["responses"])
    schemas = spec["components"]["schemas"]
    assert schemas["ChurnScore"]["properties"]["risk_tier"]["enum"] == ["low", "medium", "high"]
    assert "none" in schemas["ChurnScore"]["properties"]["action"]["enum"]
    assert "popular" in schemas["RecommendedItem"]["properties"]["source"]["enum"]
    assert httpx.post(f"{server}/noop", json={}).status_code in {401, 404}


def test_metadata_says_what_serves_and_how_fresh(client: httpx.Client, workspace) -> None:
    body = client.get("/metadata").json()
    assert body["serving"] == ["churn", "repurchase", "recommender"]
    assert set(body["unavailable"]) == {"demand"}  # not trained in this workspace
    assert "churnrec train demand" in body["unavailable"]["demand"]
    churn = body["models"]["churn"]
    assert churn["is_baseline"] in {True, False} and churn["trained_at"]
    assert churn["data_until"]
    manifest = workspace.read_manifest()["tables"]["orders"]
    assert body["newest_order_date"] == manifest["max_ordered_at"][:10]
    assert body["consent_default"] == "deny"
    assert body["tier_cuts"]["method"] == "capacity"
    assert body["tier_cuts"]["rank_by"] == "churn_probability"
    assert body["drift"] is None  # no `churnrec refresh` has checked drift yet
    ready = httpx.get(f"{client.base_url!s}/readyz").json()
    assert ready["serving"] == body["serving"]


# --- per-model readiness (issue 8, item 17) ----------------------------------------------------
@pytest.fixture(scope="module")
def recommender_only(tmp_path_factory: pytest.TempPathFactory):
    """A shop with a recommender but no churn model and no feature snapshot."""
    from churnrec.ingest import ingest
    from churnrec.synthetic import ShopConfig, generate_shop, write_shop
    from churnrec.training.jobs import train_models
    from churnrec.workspace import Workspace

    root = tmp_path_factory.mktemp("rec_only")
    ws = Workspace.at(root)
    files = write_shop(generate_shop(ShopConfig(n_customers=300, seed=5)), root / "shop", "csv")
    ingest(ws, files["orders"], customers=files["customers"], items=files["items"])
    train_models(ws, target="recommender")
    assert not ws.features_dir.exists()
    return ws


def test_serve_without_churn_model_or_snapshot_serves_what_it_has(recommender_only) -> None:
    ws = recommender_only
    customer = pd.read_parquet(ws.orders_path)["customer_id"].iloc[0]
    with running_server(ws.root) as base:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 200
        assert ready.json()["serving"] == ["recommender"]
        recs = httpx.post(
            f"{base}/recommendations", json={"customer_id": customer, "k": 3}, headers=headers
        )
        assert recs.status_code == 200 and len(recs.json()["items"]) == 3
        churn = httpx.post(f"{base}/churn_scores", json={"customer_ids": ["a"]}, headers=headers)
        assert churn.status_code == 503
        assert "churn" in churn.json()["error"] and "churnrec train churn" in churn.json()["error"]
        timing = httpx.post(f"{base}/next_purchase", json={"customer_ids": ["a"]}, headers=headers)
        assert timing.status_code == 503 and "snapshot" in timing.json()["error"]
        meta = httpx.get(f"{base}/metadata", headers=headers).json()
        assert meta["serving"] == ["recommender"] and set(meta["unavailable"]) == {
            "churn",
            "repurchase",
            "demand",
        }
        time.sleep(3.5)  # a few reload intervals: the log must not repeat a traceback
    log = (ws.root / "server.log").read_text()
    assert "Traceback" not in log
    assert log.count("churn not served") <= 1
