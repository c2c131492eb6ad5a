"""`POST /demand_forecast` over real HTTP (`churnrec serve` on 127.0.0.1), with the fallbacks."""

from __future__ import annotations

import httpx
import pytest

from churnrec.workspace import Workspace
from tests.demand_shop import COLD_ITEM, NEVER_SOLD, demand_shop, train_small_demand
from tests.server_process import running_server

pytestmark = pytest.mark.slow  # a real server
API_KEY = "demand-key-789"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    ws = demand_shop(tmp_path_factory.mktemp("demand_http"))
    train_small_demand(ws)
    args = ("--reload-seconds", "0")
    with running_server(ws.root, API_KEY, *args, log_name="demand_server.log") as base:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
            yield c


def test_known_cold_and_unknown_items_each_say_where_their_numbers_come_from(client) -> None:
    body = {"item_ids": ["I00001", COLD_ITEM, NEVER_SOLD], "weeks": 3}
    response = client.post("/demand_forecast", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model_version"] == "1"
    known, cold, unknown = answer["forecasts"]
    assert [f["item_id"] for f in answer["forecasts"]] == body["item_ids"]
    assert known["known"] is True and known["fallback"] is None
    assert cold["known"] is True and cold["fallback"] == "category_profile"
    assert unknown["known"] is False and unknown["fallback"] == "unknown_item"
    for forecast in answer["forecasts"]:
        weeks = forecast["weeks"]
        assert [w["week_start"] for w in weeks] == ["2025-06-30", "2025-07-07", "2025-07-14"]
        for w in weeks:
            assert 0 <= w["units_lo95"] <= w["units_lo80"] <= w["units_hi80"] <= w["units_hi95"]
            assert w["units_lo80"] - 1e-9 <= w["units"] <= w["units_hi80"] + 1e-9
            assert w["revenue"] is not None


def test_bad_requests_are_400_and_the_docs_show_the_endpoint(client) -> None:
    assert client.post("/demand_forecast", json={"item_ids": [], "weeks": 8}).status_code == 400
    assert client.post("/demand_forecast", json={"item_ids": ["a"], "weeks": 0}).status_code == 400
    spec = httpx.get(f"{client.base_url}/docs.json").json()
    assert "/demand_forecast" in spec["paths"]
    assert "known" in str(spec) and "unknown_item" in str(spec)
    ready = client.get("/readyz").json()
    assert "demand" in ready["serving"]


def test_without_a_demand_champion_the_state_says_why(tmp_path) -> None:
    from churnrec.serving.guards import MODEL_ROUTES
    from churnrec.serving.state import load_state

    ws = demand_shop(tmp_path)  # ingested, nothing trained
    state = load_state(Workspace.at(ws.root))
    assert not state.serves("demand")
    assert "churnrec train demand" in state.unavailable["demand"]
    assert MODEL_ROUTES["/demand_forecast"] == "demand"  # -> 503 with that reason
