"""The recommender job end to end on a small generated shop, and its skip on item-less orders."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from churnrec import columns as C
from churnrec.ingest import ingest, ingest_sample
from churnrec.models.recommender import DEFAULT_EXCLUDE_PURCHASED, Recommender
from churnrec.store.registry import load_champion
from churnrec.synthetic import ShopConfig, generate_shop, write_shop
from churnrec.training.job import JobResult
from churnrec.training.jobs import train_models
from churnrec.training.rec_ranker import RerankerParams
from churnrec.training.recommender import RecommenderTrainConfig, train_recommender
from churnrec.workspace import Workspace

N_CUSTOMERS = 600
SEED = 11
METRIC_KEYS = {
    "ndcg_at_10",
    "recall_at_10",
    "precision_at_10",
    "map_at_10",
    "coverage",
    "popularity_ndcg_at_10",
    "buy_again_ndcg_at_10",
    "decayed_buy_again_ndcg_at_10",
    "als_ndcg_at_10",
    "val_ndcg_at_10",
    "repeat_ndcg_at_10",
    "explore_recall_at_10",
    "exclude_purchased_explore_recall_at_10",
    "ndcg_at_10_minus_buy_again_ci_low",
    "ndcg_at_10_minus_buy_again_ci_high",
    "cart_ndcg_at_10",
    "cooccurrence_cart_ndcg_at_10",
    "popularity_cart_ndcg_at_10",
}
# Small models for the churn/repurchase jobs of the item-less workspace: only the skip matters.
FAST_CONFIG = """\
churn:
  n_train_cutoffs: 2
  model: {n_estimators: 60, early_stopping_rounds: 20}
repurchase:
  n_train_cutoffs: 2
  model: {num_boost_round: 60, early_stopping_rounds: 20}
clv:
  n_train_cutoffs: 1
  tweedie_powers: [1.3]
  model: {n_estimators: 40}
demand:
  candidates: [intermittent]
"""


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Workspace, JobResult, JobResult]:
    root = tmp_path_factory.mktemp("rec_shop")
    ws = Workspace.at(root)
    shop = generate_shop(ShopConfig(n_customers=N_CUSTOMERS, seed=SEED, with_events=False))
    files = write_shop(shop, root / "shop", "csv")
    ingest(ws, files["orders"], customers=files["customers"], items=files["items"])
    first = train_recommender(ws)
    second = train_recommender(ws)
    return ws, first, second


@pytest.fixture(scope="module")
def client(trained) -> MlflowClient:
    ws = trained[0]
    return MlflowClient(tracking_uri=ws.tracking_uri, registry_uri=ws.tracking_uri)


def test_model_beats_the_rules_on_the_same_holdout(trained) -> None:
    _, result, _ = trained
    m = result.metrics
    assert not result.is_rule and result.chosen.startswith("reranker"), result.chosen
    assert m["ndcg_at_10"] > m["popularity_ndcg_at_10"], m
    assert m["ndcg_at_10"] > m["buy_again_ndcg_at_10"], m
    assert m["ndcg_at_10"] > m["decayed_buy_again_ndcg_at_10"], m
    assert m["ndcg_at_10_minus_buy_again_ci_low"] > 0, m
    # buy-it-again never finds a new item; the ranker does, and only new items with exclusion
    assert m["buy_again_explore_recall_at_10"] == 0
    assert m["explore_recall_at_10"] > 0
    assert m["exclude_purchased_explore_recall_at_10"] >= m["explore_recall_at_10"]
    assert m["cart_ndcg_at_10"] > m["popularity_cart_ndcg_at_10"], m
    assert result.metrics["n_eval_customers"] > 50


def test_run_logs_metrics_inputs_and_candidate_plot(trained, client: MlflowClient) -> None:
    _, result, _ = trained
    run = client.get_run(result.run_id)
    assert client.get_experiment(run.info.experiment_id).name == "recommender"
    metrics = run.data.metrics
    assert METRIC_KEYS <= set(metrics), METRIC_KEYS - set(metrics)
    for key in METRIC_KEYS:
        assert metrics[key] == pytest.approx(result.metrics[key]), key
    assert 0 < metrics["coverage"] <= 1
    assert run.data.params["chosen"] == result.chosen
    assert run.data.params["split_at"] == str(result.params["split_at"])
    assert metrics["n_eval_customers"] == result.metrics["n_eval_customers"]
    inputs = {i.dataset.name: i.tags[0].value for i in run.inputs.dataset_inputs}
    assert inputs == {"recommender_train": "training", "recommender_holdout": "holdout"}
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"candidates_ndcg.png", "metrics_vs_baselines.json"} <= artifacts


def test_first_run_is_champion_identical_rerun_is_challenger(trained, client: MlflowClient) -> None:
    _, first, second = trained
    assert (first.promotion.name, first.promotion.version, first.promotion.alias) == (
        "recommender",
        "1",
        "champion",
    )
    assert second.metrics == first.metrics
    assert second.chosen == first.chosen
    assert (second.promotion.version, second.promotion.alias) == ("2", "challenger")
    assert str(client.get_model_version_by_alias("recommender", "champion").version) == "1"
    assert str(client.get_model_version_by_alias("recommender", "challenger").version) == "2"
    # the champion's ranker was re-scored on the challenger's holdout rows: a tie, kept
    second_tags = client.get_model_version("recommender", "2").tags
    assert second_tags["compared_with"] == "1"
    assert float(second_tags["paired_diff"]) == pytest.approx(0.0, abs=1e-12)
    tags = client.get_model_version("recommender", "1").tags
    assert tags["metric"] == "ndcg_at_10"
    assert float(tags["metric_value"]) == pytest.approx(first.metrics["ndcg_at_10"])


def test_champion_flags_repeat_and_new_items_and_serves_popular_to_unknown(trained) -> None:
    ws, _, _ = trained
    loaded = load_champion(ws, "recommender")
    assert (loaded.name, loaded.version) == ("recommender", "1")
    model = loaded.model
    assert isinstance(model, Recommender)
    orders = pd.read_parquet(ws.orders_path, columns=[C.CUSTOMER_ID, C.ITEM_ID, C.IS_RETURN])
    orders = orders[~orders[C.IS_RETURN]]
    known = sorted(orders[C.CUSTOMER_ID].unique())[:40]
    kinds: set[str] = set()
    for cid in known:
        assert model.known_customer(cid)
        bought = set(orders.loc[orders[C.CUSTOMER_ID] == cid, C.ITEM_ID])
        recs = model.recommend(cid, k=10)
        assert len(recs) == 10
        repeat = recs["kind"] == "repeat"
        assert (repeat == recs[C.ITEM_ID].isin(bought)).all(), cid
        assert ((recs["source"] == "buy_again") == repeat).all(), cid
        kinds |= set(recs["kind"])
        fresh = model.recommend(cid, k=10, exclude_purchased=True)
        assert len(fresh) == 10 and not set(fresh[C.ITEM_ID]) & bought
    # the HTTP path and the evaluation path are one: the same table, row for row
    batch = model.rank(known, 10)
    singles = pd.concat([model.recommend(cid, k=10) for cid in known], ignore_index=True)
    pd.testing.assert_frame_equal(batch, singles)
    assert kinds == {"repeat", "new"}
    unknown = model.recommend("no-such-customer", k=5)
    assert len(unknown) == 5
    assert set(unknown["source"]) == {"popular"}


def test_serving_defaults_are_the_measured_ones() -> None:
    import inspect

    from churnrec.serving.service import ChurnRec

    assert DEFAULT_EXCLUDE_PURCHASED is False
    for fn in (Recommender._recommend, Recommender.rank):
        assert inspect.signature(fn).parameters["exclude_purchased"].default is False
    request = ChurnRec.apis["recommendations"].input_spec.model_fields  # the HTTP schema
    assert request["exclude_purchased"].default is False


def test_rule_is_served_and_tagged_when_the_reranker_loses_on_validation(
    tmp_path: Path,
) -> None:
    ws = Workspace.at(tmp_path)
    shop = generate_shop(ShopConfig(n_customers=300, seed=5, with_events=False))
    files = write_shop(shop, tmp_path / "shop", "csv")
    ingest(ws, files["orders"], customers=files["customers"], items=files["items"])
    # a reranker that cannot split (one leaf) ranks no better than item order
    hopeless = RerankerParams(n_estimators=1, num_leaves=2, min_child_samples=10**6)
    result = train_recommender(ws, RecommenderTrainConfig(reranker_grid=[hopeless]))
    assert result.is_rule and result.chosen == "decayed_buy_again"
    assert result.metrics["ndcg_at_10"] == pytest.approx(
        result.metrics["decayed_buy_again_ndcg_at_10"]
    )
    client = MlflowClient(tracking_uri=ws.tracking_uri, registry_uri=ws.tracking_uri)
    tags = client.get_model_version("recommender", result.promotion.version).tags
    assert tags["is_baseline"] == "true"
    assert tags["baseline_strategy"] == "decayed_buy_again"
    assert client.get_run(result.run_id).data.tags["is_baseline"] == "true"
    served = load_champion(ws, "recommender").model
    assert served.config.mode == "rule" and served.booster is None


@pytest.fixture(scope="module")
def itemless(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace.at(tmp_path_factory.mktemp("cdnow"))
    ingest_sample(ws, "cdnow")  # CDNOW has no item ids
    return ws


def test_orders_without_item_ids_skip_with_a_clear_message(itemless: Workspace) -> None:
    result = train_recommender(itemless)
    assert "no item ids, so there is nothing to recommend" in result.skipped


def test_train_all_skips_only_the_recommender(itemless: Workspace, tmp_path: Path) -> None:
    config = tmp_path / "fast.yaml"
    config.write_text(FAST_CONFIG)
    results = train_models(itemless, target="all", config_path=config)
    outcomes = {o.kind: o for o in results.outcomes}
    assert list(outcomes) == ["churn", "repurchase", "recommender", "clv", "uplift", "demand"]
    assert outcomes["recommender"].skipped is not None
    assert "no item ids" in outcomes["recommender"].skipped
    assert outcomes["recommender"].run_id is None
    for kind in ("churn", "repurchase"):
        assert outcomes[kind].skipped is None
        assert outcomes[kind].run_id
        assert outcomes[kind].promotion.alias == "champion"
    lines = results.summary_lines()
    assert any(line.startswith("recommender") and "skipped: " in line for line in lines)
    client = MlflowClient(tracking_uri=itemless.tracking_uri, registry_uri=itemless.tracking_uri)
    assert client.search_registered_models(filter_string="name = 'recommender'") == []
