"""One training contract: every kind planned, measured, refit and promoted the same way.

A nine-month shop (too short for the old per-kind plans) gets all four answers with the
defaults; every registered version says what it was trained through and evaluated on; the
served fit learned from later outcomes than the measured one; and a champion that has seen the
challenger's holdout is re-scored with the fit of it that had not.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from churnrec import columns as C
from churnrec.synthetic import ShopConfig
from churnrec.training.jobs import train_models
from churnrec.workspace import Workspace
from tests.generated_shop import ingested_shop

NINE_MONTHS = ShopConfig(
    n_customers=500, n_items=50, seed=3, start=date(2024, 1, 1), end=date(2024, 9, 30)
)
FAST = """\
churn:
  model: {n_estimators: 60, early_stopping_rounds: 15}
repurchase:
  model: {num_boost_round: 60, early_stopping_rounds: 15}
clv:
  tweedie_powers: [1.3]
  model: {n_estimators: 40}
recommender:
  reranker_grid: [{num_leaves: 15}]
demand:
  candidates: [intermittent]
"""


@pytest.fixture(scope="module")
def nine_months(tmp_path_factory):
    root = tmp_path_factory.mktemp("nine_months")
    ws = ingested_shop(root, NINE_MONTHS)
    config = root / "fast.yaml"
    config.write_text(FAST)
    results = train_models(ws, target="all", config_path=config)
    return ws, {o.kind: o for o in results.outcomes}


def _last_order(ws: Workspace) -> date:
    return pd.read_parquet(ws.orders_path)[C.ORDERED_AT].max().date()


def test_a_nine_month_shop_gets_all_four_answers_with_the_defaults(nine_months) -> None:
    ws, outcomes = nine_months
    assert _last_order(ws) - pd.read_parquet(ws.orders_path)[C.ORDERED_AT].min().date() < (
        timedelta(days=280)
    )
    for kind in ("churn", "repurchase", "recommender", "clv"):
        assert outcomes[kind].skipped is None, (kind, outcomes[kind].skipped)
        assert outcomes[kind].promotion.alias == "champion"
    assert "no campaign named" in outcomes["uplift"].skipped


def test_every_version_is_tagged_with_the_newest_window_it_learned_from(nine_months) -> None:
    ws, outcomes = nine_months
    client = MlflowClient(tracking_uri=ws.tracking_uri, registry_uri=ws.tracking_uri)
    last = _last_order(ws)
    for kind in ("churn", "repurchase", "recommender", "clv"):
        outcome = outcomes[kind]
        assert outcome.trained_through == last, kind
        tags = client.get_model_version(kind, outcome.promotion.version).tags
        assert tags["trained_through"] == last.isoformat(), kind
        start, end = (date.fromisoformat(d) for d in tags["evaluated_on"].split(".."))
        assert end == last and start < end, kind
        run = client.get_run(outcome.run_id)
        assert run.data.params["trained_through"] == last.isoformat()
        assert run.data.tags["evaluated_on"] == tags["evaluated_on"]


def test_served_fit_learned_from_later_outcomes_than_the_measured_one(nine_months) -> None:
    from churnrec.store.registry import load_champion, load_measured_fit

    ws, outcomes = nine_months
    for kind in ("churn", "repurchase", "recommender", "clv"):
        outcome = outcomes[kind]
        start = date.fromisoformat(outcome.evaluated_on.split("..")[0])
        assert outcome.trained_through > start, kind  # the served fit saw the holdout window
    # the recommender: the served fit also knows customers who first bought inside the holdout
    # window, which the measured one (rebuilt at the holdout start) could not
    rec = outcomes["recommender"]
    served = load_champion(ws, "recommender").model
    holdout_start = pd.Timestamp(rec.evaluated_on.split("..")[0])
    lines = pd.read_parquet(ws.orders_path)
    first = lines.groupby(C.CUSTOMER_ID)[C.ORDERED_AT].min()
    newcomers = set(first[first >= holdout_start].index.astype(str))
    assert newcomers
    assert all(c in served.sources.log.users for c in newcomers)
    with pytest.raises(LookupError):  # its scorer re-anchors the champion: nothing kept
        load_measured_fit(ws, rec.run_id)
    # churn: the measured fit is what the run's metrics are of; the served one is another fit
    from churnrec.features.db import connect
    from churnrec.features.snapshot import build_customer_snapshot

    churn = outcomes["churn"]
    snapshot = build_customer_snapshot(connect(ws), _last_order(ws))
    p_served = load_champion(ws, "churn").model.predict_proba(snapshot)
    p_measured = load_measured_fit(ws, churn.run_id).predict_proba(snapshot)
    assert not np.allclose(p_served, p_measured)


def test_champion_is_rescored_with_the_fit_that_never_saw_the_holdout(nine_months) -> None:
    """Retraining on the same data: the champion's served fit learned from the holdout's
    outcomes, so it is re-scored with its measured fit, which ties with the challenger."""
    from churnrec.training.config import load_train_config
    from churnrec.training.job import run_job
    from churnrec.training.kinds import job_spec

    ws, outcomes = nine_months
    first = outcomes["repurchase"]
    config = load_train_config(None).repurchase.model_copy(
        update={
            "model": load_train_config(None).repurchase.model.model_copy(
                update={"num_boost_round": 60, "early_stopping_rounds": 15}
            )
        }
    )
    again = run_job(job_spec("repurchase"), ws, config)
    assert again.metrics["concordance"] == pytest.approx(first.metrics["concordance"])
    assert again.promotion.alias == "challenger"
    assert float(again.promotion.champion_value) == pytest.approx(first.metrics["concordance"])
    assert "difference +0.0000" in again.promotion.reason
