"""Boosted-tree threads follow the data's size: one for small fits, every core for big ones."""

from __future__ import annotations

from churnrec.models.churn import ChurnModelConfig
from churnrec.models.repurchase import RepurchaseModelConfig
from churnrec.settings import PARALLEL_MIN_CELLS, available_cores, fit_threads


def test_small_data_gets_one_thread_big_data_every_core() -> None:
    assert fit_threads(6_000, 33) == 1  # the demo-sized fit measured fastest on one thread
    assert fit_threads(PARALLEL_MIN_CELLS // 47 + 1, 47) == available_cores()
    assert fit_threads(200_000, 47) == available_cores()
    assert fit_threads(0, 0) == 1


def test_a_configured_thread_count_wins() -> None:
    assert fit_threads(200_000, 47, requested=1) == 1
    assert fit_threads(10, 3, requested=3) == 3


def test_model_configs_default_to_the_measured_rules() -> None:
    assert ChurnModelConfig().n_threads is None  # churn trees: by size
    # the AFT fit was faster on one thread even at 200,000 rows; its predictions go by size
    assert RepurchaseModelConfig().n_threads is None
    assert RepurchaseModelConfig().xgb_params()["nthread"] == 1
    assert RepurchaseModelConfig(n_threads=4).xgb_params()["nthread"] == 4
