"""The real BentoML server on 127.0.0.1, called over HTTP: every endpoint, auth, 4xx, reload."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.trained_workspace import build_trained_workspace

pytestmark = pytest.mark.slow
API_KEY = "test-key-123"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory):
    return build_trained_workspace(tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="module")
def server(workspace) -> Iterator[str]:
    port = _free_port()
    env = dict(os.environ)
    env["CHURNREC_API_KEY"] = API_KEY
    for name in ("CHURNREC_AUTH_DISABLED", "CHURNREC_WORKSPACE", "CHURNREC_RELOAD_SECONDS"):
        env.pop(name, None)  # `churnrec serve` must pass workspace and reload interval itself
    log = open(workspace.root / "server.log", "w")  # noqa: SIM115 - open while the server runs
    proc = subprocess.Popen(  # the real command a user runs
        [
            sys.executable,
            "-m",
            "churnrec.cli",
            "serve",
            "--workspace",
            str(workspace.root),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--reload-seconds",
            "1",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[1],
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    "server exited:\n" + (workspace.root / "server.log").read_text()[-3000:]
                )
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                raise RuntimeError(
                    "server not ready:\n" + (workspace.root / "server.log").read_text()[-3000:]
                )
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


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
