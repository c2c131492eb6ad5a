"""Demand forecasting on a small generated shop: the run, the served table, `churnrec forecast`."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.models import demand as D
from tests.demand_shop import COLD_ITEM, NEVER_SOLD, demand_shop, train_small_demand

CSV_COLUMNS = [
    "item_id",
    "week_start",
    "units",
    "units_lo80",
    "units_hi80",
    "units_lo95",
    "units_hi95",
    "revenue",
    "method",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    ws = demand_shop(tmp_path_factory.mktemp("demand"))
    return ws, train_small_demand(ws)


def test_run_reports_the_model_next_to_every_baseline_on_the_same_holdout(trained) -> None:
    from churnrec.store.registry import tracking_client

    ws, result = trained
    assert not result.skipped, result.skipped
    # holdout: the last 8 whole weeks, Monday to Sunday; served fit through the last Sunday
    assert result.evaluated_on == "2025-05-05..2025-06-29"
    assert result.trained_through == date(2025, 6, 29)
    logged = tracking_client(ws).get_run(result.run_id).data.metrics
    for prefix in ("", "seasonal_naive_", "moving_average_"):
        for name in ("wape", "mase", "bias", "coverage_80", "coverage_95"):
            assert np.isfinite(logged[f"{prefix}demand_{name}"]), prefix + name
    assert 0.6 <= logged["demand_coverage_80"] <= 0.95
    assert logged["demand_coverage_95"] >= logged["demand_coverage_80"]
    for name in ("lightgbm", "ets", "theta", "intermittent", "seasonal_naive"):
        assert f"val_{name}_demand_wape" in logged
    assert "demand_category_wape" in logged and "demand_total_wape" in logged


def test_served_forecast_adds_up_and_starts_the_monday_after_the_last_week(trained) -> None:
    from churnrec.store.registry import load_champion

    ws, _ = trained
    model = load_champion(ws, "demand").model
    items = model.level_forecast(D.ITEM)
    cats = model.level_forecast(D.CATEGORY)
    total = model.level_forecast(D.TOTAL)
    assert sorted(items[D.WEEK_START].unique()) == list(
        pd.date_range("2025-06-30", periods=8, freq="7D")
    )
    assert (items[D.UNITS] >= 0).all()
    assert (items["units_lo80"] <= items[D.UNITS] + 1e-9).all()
    assert (items["units_hi95"] >= items["units_hi80"] - 1e-9).all()
    category_of = model.items.set_index(C.ITEM_ID)[C.CATEGORY]
    summed = items.groupby([items[D.KEY].map(category_of), D.WEEK_START])[D.UNITS].sum()
    by_cat = cats.set_index([D.KEY, D.WEEK_START])[D.UNITS]
    np.testing.assert_allclose(by_cat.sort_index(), summed.sort_index(), rtol=1e-9)
    np.testing.assert_allclose(
        total[D.UNITS].to_numpy(), cats.groupby(D.WEEK_START)[D.UNITS].sum().to_numpy()
    )


def test_cold_and_unknown_items_get_a_fallback_that_says_so(trained) -> None:
    from churnrec.store.registry import load_champion

    ws, _ = trained
    model = load_champion(ws, "demand").model
    rows = model.forecast_items([COLD_ITEM, NEVER_SOLD], weeks=3)
    cold = rows[rows[C.ITEM_ID] == COLD_ITEM]
    unknown = rows[rows[C.ITEM_ID] == NEVER_SOLD]
    assert len(cold) == len(unknown) == 3
    assert cold[D.KNOWN].all() and (cold[D.FALLBACK] == "category_profile").all()
    assert (~unknown[D.KNOWN]).all() and (unknown[D.FALLBACK] == "unknown_item").all()
    # the cold item's profile is its category's, scaled by its share of the category's units
    category = model.items.set_index(C.ITEM_ID).at[COLD_ITEM, C.CATEGORY]
    profile = model.level_forecast(D.CATEGORY, 3)
    profile = profile[profile[D.KEY] == category][D.UNITS].to_numpy()
    ratio = cold[D.UNITS].to_numpy() / profile
    assert 0 < ratio[0] < 1 and np.allclose(ratio, ratio[0])


def test_forecast_command_writes_items_or_categories(trained, tmp_path) -> None:
    ws, _ = trained
    out = tmp_path / "demand.csv"
    ids = tmp_path / "ids.csv"
    ids.write_text(f"item_id\nI00001\n{COLD_ITEM}\n{NEVER_SOLD}\n")
    args = ["forecast", "--out", str(out), "--workspace", str(ws.root)]
    result = CliRunner().invoke(app, [*args, "--items", str(ids), "--weeks", "4"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, dtype={"item_id": str})
    assert list(frame.columns) == CSV_COLUMNS
    assert len(frame) == 12
    methods = frame.groupby("item_id")["method"].first()
    assert methods[COLD_ITEM] == "category_profile" and methods[NEVER_SOLD] == "typical_item"
    assert set(pd.to_datetime(frame["week_start"]).dt.weekday) == {0}  # Mondays
    result = CliRunner().invoke(app, [*args, "--level", "category"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["category", *CSV_COLUMNS[1:]]
    assert len(frame) == 3 * 8


def test_too_few_weeks_is_skipped_with_what_is_missing(tmp_path) -> None:
    from churnrec.ingest import ingest
    from churnrec.training.demand import DemandTrainConfig, train_demand
    from churnrec.workspace import Workspace

    days = pd.date_range("2025-01-06", "2025-04-27", freq="D")  # 16 whole weeks
    orders = pd.DataFrame(
        {
            C.CUSTOMER_ID: [f"c{i % 7}" for i in range(len(days))],
            C.ORDER_ID: [f"o{i}" for i in range(len(days))],
            C.ORDERED_AT: days,
            C.ITEM_ID: ["A", "B"] * (len(days) // 2),
            C.QUANTITY: 1,
            C.UNIT_PRICE: 5.0,
        }
    )
    orders.to_csv(tmp_path / "orders.csv", index=False)
    ws = Workspace.at(tmp_path)
    ingest(ws, tmp_path / "orders.csv")
    result = train_demand(ws, DemandTrainConfig(horizon_weeks=8))
    assert result.skipped is not None
    assert "16 full weeks of sales" in result.skipped
    assert "needs at least 32" in result.skipped and "--horizon-weeks" in result.skipped
    args = ["train", "demand", "--workspace", str(ws.root), "--horizon-weeks", "4"]
    cli = CliRunner().invoke(app, [*args, "--level", "category"])
    assert cli.exit_code == 1, cli.output  # nothing trained; the reason names the flag's horizon
    assert "forecasting 4 weeks needs at least 20" in cli.stdout


@pytest.mark.slow  # a whole refresh (snapshot, drift, MLflow runs)
def test_refresh_tracks_the_served_forecast_on_the_weeks_since(trained, tmp_path) -> None:
    import shutil

    from churnrec.ingest import ingest
    from churnrec.store.registry import tracking_client
    from churnrec.training.refresh import run_refresh
    from churnrec.workspace import Workspace

    ws = Workspace.at(shutil.copytree(trained[0].root, tmp_path / "ws"))
    days = pd.date_range("2025-06-30 12:00", "2025-07-13 12:00", freq="D")
    later = pd.DataFrame(
        {
            C.CUSTOMER_ID: "C000001",
            C.ORDER_ID: [f"late-{i}" for i in range(len(days))],
            C.ORDERED_AT: days,
            C.ITEM_ID: "I00001",
            C.QUANTITY: 1,
            C.UNIT_PRICE: 10.0,
        }
    )
    later.to_csv(tmp_path / "later.csv", index=False)
    result = run_refresh(
        ws,
        ingest_step=lambda: ingest(ws, tmp_path / "later.csv"),
        score_step=lambda w: w.root / "no-scores.csv",
        retrain="never",
    )
    served = result.demand_forecast
    assert served is not None and served["weeks"] == 2
    assert (served["first_week"], served["last_week"]) == ("2025-06-30", "2025-07-07")  # Mondays
    assert 0 < served["wape"] and served["holdout_wape"] is not None
    assert any(line.startswith("demand v1 on the 2 week(s)") for line in result.lines())
    client = tracking_client(ws)
    runs = client.search_runs(
        [client.get_experiment_by_name("refresh").experiment_id], "tags.step = 'drift'"
    )
    assert runs[0].data.metrics["demand_served_wape"] == pytest.approx(served["wape"])


def test_report_section_stock_to_watch_reads_the_champion(trained) -> None:
    from types import SimpleNamespace

    from churnrec.features.db import connect
    from churnrec.insights.report import stock

    ws, _ = trained
    ctx = SimpleNamespace(ws=ws, con=connect(ws), as_of=date(2025, 6, 29))
    section = stock.build(ctx)
    assert not section.missing
    assert {"stock_items_above", "stock_items_below", "stock_categories"} <= set(section.tables)
    assert len(section.tables["stock_categories"]) == 3
    assert len(section.notes) == 2 and section.notes[1].startswith(("Categories", "No category"))
    earlier = stock.build(SimpleNamespace(ws=ws, con=ctx.con, as_of=date(2025, 6, 1)))
    assert "after this report's cut-off 2025-06-01" in earlier.missing[0]


def _tiny_model() -> D.DemandModel:
    weeks = pd.to_datetime(["2025-01-06", "2025-01-13"])
    rows = []
    for level, key, units in (
        (D.ITEM, "a", 4.0),
        (D.ITEM, "b", 2.0),
        (D.CATEGORY, "toys", 6.0),
        (D.TOTAL, "total", 6.0),
    ):
        for step, week in enumerate(weeks, start=1):
            rows.append(
                {
                    D.LEVEL: level,
                    D.KEY: key,
                    D.STEP: step,
                    D.WEEK_START: week,
                    D.UNITS: units,
                    "units_lo80": units / 2,
                    "units_hi80": units * 2,
                    "units_lo95": 0.0,
                    "units_hi95": units * 3,
                    D.REVENUE: units * 10,
                    D.METHOD: "theta",
                }
            )
    items = pd.DataFrame(
        {
            C.ITEM_ID: ["a", "b", "c"],
            C.CATEGORY: ["toys"] * 3,
            "history_weeks": [30, 30, 2],
            "recent_units": [4.0, 2.0, 0.6],
            "recent_share": [0.6, 0.3, 0.1],
            "price": [10.0, 10.0, 5.0],
        }
    )
    return D.DemandModel(pd.DataFrame(rows), items, {"trained_through": "2025-01-05"})


def test_model_answers_in_the_order_asked_and_survives_save_and_load(tmp_path) -> None:
    from churnrec.models.base import NotFittedError

    model = _tiny_model()
    asked = ["zzz", "c", "a", "a"]
    table = model.forecast_items(asked)
    assert table[C.ITEM_ID].tolist() == [i for i in asked for _ in range(2)]
    cold = table[table[C.ITEM_ID] == "c"]
    assert cold[D.UNITS].tolist() == pytest.approx([0.6, 0.6])  # 0.1 x the category's 6
    assert cold[D.REVENUE].tolist() == pytest.approx([3.0, 3.0])  # x its own price
    assert table[table[C.ITEM_ID] == "zzz"][D.UNITS].tolist() == [3.0, 3.0]  # median item
    model.save(tmp_path / "m")
    again = D.DemandModel.load(tmp_path / "m")
    pd.testing.assert_frame_equal(again.forecast_items(asked), table)
    answer = again.answer(pd.DataFrame({C.ITEM_ID: ["a", "zzz"], "weeks": [1, 2]}))
    assert [len(w) for w in answer[D.WEEKS]] == [1, 2]
    assert pd.isna(answer[D.FALLBACK].iloc[0]) and answer[D.FALLBACK].iloc[1] == "unknown_item"
    with pytest.raises(NotFittedError):
        D.DemandModel().forecast_items(["a"])


@pytest.mark.slow  # a second training run
def test_a_week_later_the_champion_is_rescored_on_the_weeks_both_forecast(trained, tmp_path):
    import shutil

    from churnrec.ingest import ingest
    from churnrec.workspace import Workspace

    ws = Workspace.at(shutil.copytree(trained[0].root, tmp_path / "ws"))
    days = pd.date_range("2025-06-30 12:00", "2025-07-06 12:00", freq="D")
    week = pd.DataFrame(
        {
            C.CUSTOMER_ID: "C000002",
            C.ORDER_ID: [f"next-{i}" for i in range(len(days))],
            C.ORDERED_AT: days,
            C.ITEM_ID: "I00002",
            C.QUANTITY: 1,
            C.UNIT_PRICE: 10.0,
        }
    )
    week.to_csv(tmp_path / "week.csv", index=False)
    ingest(ws, tmp_path / "week.csv")
    result = train_small_demand(ws)
    assert result.trained_through == date(2025, 7, 6)
    reason = result.promotion.reason
    # v1's measured fit forecast 2025-05-05..06-29; v2's holdout is 05-12..07-06: the 7 weeks
    # both forecast are compared (before: "cannot score this holdout", promoted unscored)
    assert "beat champion v1" in reason or "beats champion v1" in reason, reason
    assert result.promotion.champion_value is not None
