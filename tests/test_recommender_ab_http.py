"""Impressions, attribution and the online A/B of recommender versions over real HTTP.

One trained recommender, registered a second time as `@challenger`; the service gets 10% of
the customers onto it (`experiments: {recommender: {challenger_share: 0.1}}`). Every answer
carries an id, positions and an arm; events that name an answer are counted by `churnrec recs
readout` exactly as posted; the arm split passes the sample-ratio check; a customer keeps
their arm; and `churnrec models promote --from-readout` refuses without a clear lift.
"""

from __future__ import annotations

import json
import stat
from datetime import date
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.ids import id_key
from churnrec.serving.impressions import arm_for
from churnrec.store.recommendation_log import log_dir
from churnrec.workspace import Workspace
from tests.server_process import running_server

pytestmark = pytest.mark.slow
API_KEY = "ab-test-key-789"
SHARE = 0.1
N_CUSTOMERS = 300
K = 4


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    from churnrec.store.registry import load_champion, register_version, tracking_client
    from churnrec.synthetic import ShopConfig
    from churnrec.training.jobs import train_models
    from tests.generated_shop import ingested_shop

    ws = ingested_shop(tmp_path_factory.mktemp("ab"), ShopConfig(n_customers=N_CUSTOMERS, seed=5))
    train_models(ws, target="recommender")
    champion = load_champion(ws, "recommender")
    client = tracking_client(ws)
    source = client.get_model_version("recommender", champion.version).source
    register_version(client, source, name="recommender", run_id=champion.run_id, tags={})
    key = ws.data_dir / ".id_key"  # a fixed workspace key: the same arms on every run
    key.write_bytes(bytes(range(32)))
    key.chmod(0o600)
    return ws


def _customers(ws: Workspace) -> list[str]:
    orders = pd.read_parquet(ws.orders_path)
    return sorted(orders[C.CUSTOMER_ID].astype(str).unique())


def test_ten_percent_challenger_ids_positions_attribution_and_readout(
    workspace: Workspace, tmp_path: Path
) -> None:
    runner = CliRunner()
    root = str(workspace.root)
    made = runner.invoke(
        app, ["models", "promote", "recommender", "2", "--alias", "challenger", "--workspace", root]
    )
    assert made.exit_code == 0, made.output
    assert "v2 @challenger" in made.output
    config = tmp_path / "serving.yaml"
    config.write_text(f"experiments:\n  recommender:\n    challenger_share: {SHARE}\n")
    customers = _customers(workspace)
    args = ("--reload-seconds", "0", "--config", str(config))
    with (
        running_server(workspace.root, API_KEY, *args, log_name="ab_server.log") as base,
        httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
        ) as client,
    ):
        answers = {}
        for cid in customers:
            body = client.post("/recommendations", json={"customer_id": cid, "k": K}).json()
            answers[cid] = body
        key = id_key(workspace.data_dir)
        for cid, body in answers.items():
            assert body["arm"] == arm_for(cid, key, SHARE)  # the keyed hash chose it
            assert body["model_version"] == ("2" if body["arm"] == "challenger" else "1")
            assert [i["position"] for i in body["items"]] == list(range(1, K + 1))
        ids = [b["recommendation_id"] for b in answers.values()]
        assert len(set(ids)) == len(ids) and all(len(i) == 32 for i in ids)
        repeats = []
        for cid in customers[:30]:  # the same customer always gets the same arm
            again = client.post("/recommendations", json={"customer_id": cid, "k": K}).json()
            assert again["arm"] == answers[cid]["arm"]
            assert again["recommendation_id"] != answers[cid]["recommendation_id"]
            repeats.append(again["model_version"])
        similar = client.post("/similar_items", json={"item_id": "I00001", "k": 3}).json()
        assert similar["arm"] == "champion" and len(similar["recommendation_id"]) == 32
        assert [i["position"] for i in similar["items"]] == [1, 2, 3]

        # events naming answers: every 5th customer views position 1, every 10th adds
        # position 2 to the cart, every 20th buys position 1
        posted = {"1": {"view": 0, "add_to_cart": 0, "purchase": 0}}
        posted["2"] = dict(posted["1"])
        for n, (cid, body) in enumerate(answers.items()):
            plan = [("view", 1)] * (n % 5 == 0) + [("add_to_cart", 2)] * (n % 10 == 0)
            plan += [("purchase", 1)] * (n % 20 == 0)
            for event_type, position in plan:
                event = {
                    "customer_id": cid,
                    "item_id": body["items"][position - 1]["item_id"],
                    "event_type": event_type,
                    "recommendation_id": body["recommendation_id"],
                    "position": position,
                }
                accepted = client.post("/events", json=event).json()
                assert accepted["arm"] == body["arm"], accepted  # the event inherits the arm
                posted[body["model_version"]][event_type] += 1
        stray = {"customer_id": customers[0], "item_id": "I00001", "event_type": "view"}
        unknown = client.post("/events", json={**stray, "recommendation_id": "nope"}).json()
        assert unknown["arm"] is None
        no_id = client.post("/events", json={**stray, "position": 1})
        assert no_id.status_code == 400 and "recommendation_id" in no_id.text
        spec = client.get("/docs.json").json()  # the new fields are documented, with examples
        events = spec["paths"]["/events"]["post"]
        assert events["requestBody"]["content"]["application/json"]["example"]["position"] == 2
        schemas = spec["components"]["schemas"]
        assert "position" in schemas["RecommendedItem"]["properties"]
        assert "recommendation_id" in json.dumps(schemas)

    log = log_dir(workspace)
    for name in ("impressions.jsonl", "events.jsonl"):
        assert stat.S_IMODE((log / name).stat().st_mode) == 0o600
        text = (log / name).read_text()
        assert not any(f'"{cid}"' in text for cid in customers[:50])  # pseudonyms only
    server_log = (workspace.root / "ab_server.log").read_text()
    assert not any(cid in server_log for cid in customers[:50])

    result = runner.invoke(app, ["recs", "readout", "--json", "--workspace", root])
    assert result.exit_code == 0, (result.output, result.exception)
    out = json.loads(result.stdout)
    totals = {r["model_version"]: r for r in out["by_source"] if r["source"] == "all"}
    for version in ("1", "2"):
        assert totals[version]["clicks_or_views"] == posted[version]["view"]
        assert totals[version]["add_to_carts"] == posted[version]["add_to_cart"]
        assert totals[version]["purchases"] == posted[version]["purchase"]
    served = [b["model_version"] for b in answers.values()] + repeats
    shown_by_version = pd.Series(served).value_counts()
    assert totals["2"]["impressions"] == K * shown_by_version["2"]
    assert totals["1"]["impressions"] == K * shown_by_version["1"] + 3  # + /similar_items
    low, high = totals["1"]["click_or_view_rate_ci"]
    assert low < totals["1"]["click_or_view_rate"] < high
    assert out["arms"] == {"champion": ["1"], "challenger": ["2"]}
    ab = out["ab"]
    arms = {a["arm"]: a["customers"] for a in ab["arms"]}
    assert arms["champion"] + arms["challenger"] == len(customers)
    assert ab["intended_split"] == {"champion": 1 - SHARE, "challenger": SHARE}
    assert ab["srm_detected"] is False and ab["srm_p_value"] > 0.001
    assert {x["outcome"] for x in ab["lifts"]} >= {"converted", "visited"}

    mlflow.set_tracking_uri(workspace.tracking_uri)
    runs = mlflow.search_runs(
        experiment_names=["recommender"], filter_string="tags.readout = 'online'"
    )
    assert set(runs["tags.model_version"]) == {"1", "2"}

    from churnrec.insights.report.build import build_report

    report = tmp_path / "report.json"  # the report's section: the same numbers, at its cut-off
    build_report(workspace, as_of=date.today(), out=tmp_path / "r.html", json_path=report)
    section = json.loads(report.read_text())
    counts = ["model_version", "source", "impressions", "clicks_or_views", "purchases"]
    assert [[r[c] for c in counts] for r in section["recommendations_online"]] == [
        [r[c] for c in counts] for r in out["by_source"]
    ]
    assert section["recommendations_online_ab"]["srm_detected"] is False

    refused = runner.invoke(
        app, ["models", "promote", "recommender", "--from-readout", "--workspace", root]
    )
    assert refused.exit_code == 2, refused.output
    assert "does not exclude zero" in refused.output or "worse" in refused.output
    listed = runner.invoke(app, ["models", "list", "recommender", "--workspace", root])
    lines = listed.output.splitlines()  # newest first: v2 is still only the challenger
    assert "@challenger" in lines[1] and "@champion" in lines[2]

    # moving @challenger is a change the reload watch sees (a running service reloads)
    from churnrec.serving.watch import input_fingerprint
    from churnrec.store.registry import tracking_client

    before = input_fingerprint(workspace)
    tracking_client(workspace).delete_registered_model_alias("recommender", "challenger")
    assert input_fingerprint(workspace, previous=before).champions != before.champions
