"""The `repurchase` job end to end on a tiny workspace, tracked in a temporary MLflow store."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from churnrec import columns as C
from churnrec.features.db import connect_frames
from churnrec.models.repurchase import RepurchaseModelConfig
from churnrec.settings import TRAIN_CUSTOMERS_PER_CUTOFF
from churnrec.store.registry import load_champion
from churnrec.training.repurchase import (
    CALIBRATION_PNG,
    PRED_VS_ACTUAL_PNG,
    RepurchaseTrainConfig,
    gap_remaining_days,
    median_gap_baseline,
    median_gap_days,
    train_repurchase,
)
from churnrec.workspace import Workspace

START = date(2023, 1, 1)
END = date(2024, 12, 31)


def shop_orders(n_customers: int = 300, seed: int = 7) -> pd.DataFrame:
    """Customers with their own order rhythm (mean gap 7..150 days) who may lapse for good."""
    rng = np.random.default_rng(seed)
    rows = []
    n_days = (END - START).days
    for i in range(n_customers):
        mean_gap = float(np.exp(rng.uniform(np.log(7), np.log(150))))
        day = float(rng.uniform(0, 400))
        lapse_day = day + rng.exponential(500)
        k = 0
        while day <= min(n_days, lapse_day):
            at = datetime.combine(
                START + timedelta(days=int(day)), datetime.min.time()
            ) + timedelta(hours=10)
            rows.append(
                {
                    C.CUSTOMER_ID: f"c{i:03d}",
                    C.ORDER_ID: f"c{i:03d}-{k}",
                    C.ORDERED_AT: at,
                    C.AMOUNT: float(rng.uniform(10, 90)),
                    C.IS_RETURN: False,
                }
            )
            k += 1
            day += rng.gamma(4.0, mean_gap / 4.0) + 1
    orders = pd.DataFrame(rows)
    orders[C.ORDERED_AT] = orders[C.ORDERED_AT].astype("datetime64[us]")
    return orders


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace.at(tmp_path_factory.mktemp("shop"))
    ws.data_dir.mkdir(parents=True)
    shop_orders().to_parquet(ws.orders_path, index=False)
    return ws


CONFIG = RepurchaseTrainConfig(
    horizon_days=60,
    n_train_cutoffs=3,
    model=RepurchaseModelConfig(num_boost_round=80, learning_rate=0.1, max_depth=3, n_threads=1),
)


@pytest.fixture(scope="module")
def first_run(workspace: Workspace):
    return train_repurchase(workspace, CONFIG)


def test_median_gap_is_point_in_time() -> None:
    # a: orders on days 0, 10, 40 (gaps 10, 30 -> median 20); a later order must not count
    # b: one order only; c: orders on days 0, 4, 6, 16 (gaps 4, 2, 10 -> median 4)
    def at(day: int) -> datetime:
        return datetime(2024, 1, 1, 12) + timedelta(days=day)

    orders = pd.DataFrame(
        {
            C.CUSTOMER_ID: ["a", "a", "a", "a", "b", "c", "c", "c", "c", "c"],
            C.ORDERED_AT: [
                at(0),
                at(10),
                at(40),
                at(41),
                at(3),
                at(0),
                at(4),
                at(6),
                at(16),
                at(5),
            ],
            C.IS_RETURN: [False, False, False, False, False, False, False, False, False, True],
        }
    )
    con = connect_frames(orders)
    as_of = date(2024, 1, 1) + timedelta(days=40)
    gaps = median_gap_days(con, as_of)
    assert gaps.to_dict(orient="list") == {
        C.CUSTOMER_ID: ["a", "c"],
        "median_gap_days": [20.0, 4.0],
    }
    ids = pd.Series(["a", "b", "c"])
    # b, a one-time buyer, gets the median of the repeat customers' medians: (20 + 4) / 2
    assert median_gap_baseline(con, as_of, ids, fallback_days=90).tolist() == [20.0, 12.0, 4.0]
    early = date(2024, 1, 1)  # nobody has two order days yet
    assert median_gap_baseline(con, early, ids, fallback_days=90).tolist() == [90.0] * 3


def test_gap_remaining_baseline() -> None:
    # usual gap 30: 10 days since the last order leaves 20; 45 days leaves "overdue" = 1 day
    assert gap_remaining_days(np.array([30.0, 30.0, 5.0]), np.array([10, 45, 0])).tolist() == [
        20.0,
        1.0,
        5.0,
    ]


def test_job_logs_metrics_baselines_and_artifacts(first_run, workspace: Workspace) -> None:
    result = first_run
    assert {"concordance", "mae_days", "p30_brier", "p30_ece"} <= set(result.metrics)
    assert {"baseline_concordance", "baseline_mae_days"} <= set(result.metrics)
    assert result.metrics["concordance"] > result.metrics["baseline_concordance"]
    assert result.metrics["concordance"] > result.metrics["gap_remaining_concordance"]
    assert 0.5 < result.metrics["concordance"] <= 1
    assert result.metrics["n_train_rows"] > result.metrics["n_holdout_rows"] > 0
    assert len(result.params["train_cutoffs"].split(",")) == 3

    client = MlflowClient(tracking_uri=workspace.tracking_uri, registry_uri=workspace.tracking_uri)
    run = client.get_run(result.run_id)
    assert client.get_experiment(run.info.experiment_id).name == "repurchase"
    for key in (
        "concordance",
        "mae_days",
        "p30_brier",
        "p30_ece",
        "baseline_concordance",
        "baseline_mae_days",
        "gap_remaining_concordance",
        "gap_remaining_mae_days",
    ):
        assert run.data.metrics[key] == pytest.approx(result.metrics[key])
    params = run.data.params
    assert params["horizon_days"] == "60"
    assert params["model.distribution"] == "normal"
    assert params["holdout_cutoff"] == str(result.params["holdout_cutoff"])
    assert int(params["data_training_rows"]) == result.metrics["n_train_rows"]
    assert params["max_train_customers_per_cutoff"] == str(TRAIN_CUSTOMERS_PER_CUTOFF)
    assert int(params["train_rows_before_sample"]) == result.metrics["n_train_rows"]  # all
    assert {i.dataset.name for i in run.inputs.dataset_inputs} == {
        "repurchase_train",
        "repurchase_validation",
        "repurchase_holdout",
    }
    for key in ("train_id", "validation_id", "holdout_id", "validation_cutoff", "days_source"):
        assert params[key]
    for key in ("val_concordance", "val_model_mae_days", "val_median_gap_mae_days"):
        assert key in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {CALIBRATION_PNG, PRED_VS_ACTUAL_PNG, "features.json"} <= artifacts


def test_served_object_ranks_better_than_the_rule_or_is_the_rule(first_run) -> None:
    m = first_run.metrics
    if first_run.is_rule:
        assert m["val_median_gap_concordance"] >= m["val_model_concordance"]
    else:
        assert m["val_model_concordance"] > m["val_median_gap_concordance"]
        assert m["val_concordance"] == m["val_model_concordance"]


def test_job_registers_champion_that_loads_back(first_run, workspace: Workspace) -> None:
    assert first_run.promotion.alias == "champion"
    assert first_run.promotion.metric == "concordance"
    loaded = load_champion(workspace, "repurchase")
    assert loaded.run_id == first_run.run_id
    assert loaded.model.feature_names


def test_same_data_and_config_give_same_metrics_and_no_promotion(
    first_run, workspace: Workspace
) -> None:
    again = train_repurchase(workspace, CONFIG)
    assert again.run_id != first_run.run_id
    assert again.metrics == first_run.metrics
    # same holdout, equal (not better) concordance: the new version waits as challenger
    assert again.promotion.alias == "challenger"
    assert load_champion(workspace, "repurchase").run_id == first_run.run_id


def test_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError):
        RepurchaseTrainConfig.model_validate({"horizon_days": 30, "horizon": 30})
    with pytest.raises(ValueError):
        RepurchaseTrainConfig.model_validate({"model": {"depth": 3}})


def test_job_fails_clearly_without_orders(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path)
    assert "empty" in train_repurchase(ws, CONFIG).skipped
