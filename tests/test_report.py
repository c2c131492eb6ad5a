"""`churnrec report` on a hand-made shop whose every number is known: funnel, attribution
(rule-based and Markov), spend ROI, overview, point-in-time cut-off, missing-data lines and
clear errors for a bad spend file."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from churnrec.cli import app
from churnrec.insights.report.build import build_report
from churnrec.insights.report.spend import SpendError, read_spend

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
AS_OF = "2025-06-30"

ORDERS = """customer_id,order_id,ordered_at,amount,channel
B,O0,2025-01-05 12:00:00,30,store
A,O1,2025-06-10 10:00:00,100,web
B,O2,2025-06-20 15:00:00,50,store
D,O3,2025-07-05 10:00:00,80,web
"""
CUSTOMERS = """customer_id,signed_up_at,acquisition_channel,marketing_consent
A,2025-05-01,email,true
B,2024-12-01,organic,
C,2025-06-01,paid_search,false
D,2025-07-01,social,true
E,2025-06-01,social,true
"""
# A: email (10 days before the order) -> social (1 day) -> direct (the purchase session)
# C: a paid-search visit that ends on a payment error; a session-less view the next day
# E: a cart without a view; D: everything after the cut-off
EVENTS = """customer_id,occurred_at,event_type,session_id,channel,platform
A,2025-05-31 10:00:00,view,SA1,email,desktop
A,2025-06-09 10:00:00,view,SA2,social,mobile_web
A,2025-06-09 10:01:00,wishlist_add,SA2,social,mobile_web
A,2025-06-09 10:02:00,add_to_cart,SA2,social,mobile_web
A,2025-06-10 09:30:00,product_view,SA3,direct,desktop
A,2025-06-10 09:40:00,cart_add,SA3,direct,desktop
A,2025-06-10 09:50:00,begin_checkout,SA3,direct,desktop
A,2025-06-10 09:59:00,purchase,SA3,direct,desktop
C,2025-06-15 20:00:00,view,SC1,paid_search,android_app
C,2025-06-15 20:02:00,add_to_cart,SC1,paid_search,android_app
C,2025-06-15 20:04:00,checkout,SC1,paid_search,android_app
C,2025-06-15 20:05:00,payment_error,SC1,paid_search,android_app
C,2025-06-16 08:00:00,page_view,,,
E,2025-06-20 11:00:00,add_to_cart,SE1,social,ios_app
D,2025-07-02 10:00:00,view,SD1,email,desktop
D,2025-07-02 10:05:00,purchase,SD1,email,desktop
"""
SPEND = "channel,month,cost\nemail,2025-06,20\nsocial,2025-06,10\ntv,2025-06,5\n"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report_shop")
    for name, text in (
        ("orders", ORDERS),
        ("customers", CUSTOMERS),
        ("events", EVENTS),
        ("spend", SPEND),
    ):
        (root / f"{name}.csv").write_text(text)
    ws = root / "ws"
    result = runner.invoke(
        app,
        [
            "ingest",
            str(root / "orders.csv"),
            "--customers",
            str(root / "customers.csv"),
            "--events",
            str(root / "events.csv"),
            "--workspace",
            str(ws),
        ],
    )
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture(scope="module")
def report(shop: Path) -> dict:
    out, tables = shop / "report.html", shop / "report.json"
    result = runner.invoke(
        app,
        [
            "report",
            "--workspace",
            str(shop / "ws"),
            "--as-of",
            AS_OF,
            "--out",
            str(out),
            "--json",
            str(tables),
            "--spend",
            str(shop / "spend.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert str(out) in result.stdout and str(tables) in result.stdout
    return json.loads(tables.read_text())


def _credit(doc: dict, model: str, channel: str, measure: str = "orders") -> float:
    rows = [r for r in doc["attribution"] if r["model"] == model and r["channel"] == channel]
    return rows[0][measure] if rows else 0.0


def test_json_has_a_key_per_table(report: dict) -> None:
    for key in ("overview", "segments", "lifecycle", "clusters", "cohorts", "funnel"):
        assert key in report
    assert "channels" in report and "attribution" in report
    assert report["meta"]["as_of"] == AS_OF


def test_funnel_counts_sessions_with_each_step_known_names_included(report: dict) -> None:
    # view: SA1, SA2, SA3 (product_view), SC1, C's session-less page_view; cart: SA2, SA3
    # (cart_add), SC1, SE1 (no view before it); checkout: SA3 (begin_checkout), SC1
    funnel = report["funnel"]
    assert [(r["step"], r["sessions"]) for r in funnel] == [
        ("view", 5),
        ("add_to_cart", 4),
        ("checkout", 2),
        ("purchase", 1),
    ]
    assert [r["in_order_sessions"] for r in funnel] == [5, 3, 2, 1]


def test_events_after_the_cut_off_are_left_out(report: dict) -> None:
    by_channel = {r["channel"]: r for r in report["funnel_by_channel"]}
    assert by_channel["email"]["sessions"] == 1  # SA1 only; D's session is after T
    assert by_channel["email"]["purchase"] == 0


def test_dropout_paths_and_error_events(report: dict) -> None:
    paths = {r["path"]: r["sessions"] for r in report["dropout_paths"]}
    assert paths["view > add_to_cart > checkout > payment_error > (exit)"] == 1
    assert paths["view > wishlist_add > add_to_cart > (exit)"] == 1
    (error,) = report["errors"]
    assert error["event"] == "payment_error" and error["sessions"] == 1
    assert error["dropout_rate"] == 1.0 and error["top_platform"] == "android_app"
    assert error["dropout_rate_checkout_without_error"] == 0.0  # SA3 checked out and paid


def test_rule_based_attribution_of_a_three_touch_order(report: dict) -> None:
    assert _credit(report, "first_touch", "email") == 1.0
    assert _credit(report, "first_touch", "direct") == 0.0
    assert _credit(report, "last_touch", "direct") == 1.0
    assert _credit(report, "linear", "social") == pytest.approx(1 / 3)
    assert _credit(report, "position_based", "social") == pytest.approx(0.2)
    assert _credit(report, "position_based", "email") == pytest.approx(0.4)
    days = [10.0, 1.0, 0.5 / 24]
    weights = [0.5 ** (d / 7.0) for d in days]
    assert _credit(report, "time_decay", "email") == pytest.approx(weights[0] / sum(weights))
    assert _credit(report, "last_touch", "direct", "revenue") == pytest.approx(100.0)
    for model in ("first_touch", "last_touch", "linear", "time_decay", "position_based"):
        total = sum(r["orders"] for r in report["attribution"] if r["model"] == model)
        assert total == pytest.approx(1.0), model  # O0 and O2 had no session before them


def test_markov_removal_effects(report: dict) -> None:
    # journeys: email > social > direct > conversion; paid_search > null; social > null.
    # P(conversion) = 1/3; without email 1/6 (effect 0.5), without social or direct 0
    # (effect 1 each), paid_search changes nothing: shares 0.2, 0.4, 0.4, 0.
    assert _credit(report, "markov", "email") == pytest.approx(0.2)
    assert _credit(report, "markov", "social") == pytest.approx(0.4)
    assert _credit(report, "markov", "direct") == pytest.approx(0.4)
    assert _credit(report, "markov", "paid_search") == pytest.approx(0.0)


def test_spend_gives_cpa_and_roi_per_model(report: dict) -> None:
    roi = {(r["channel"], r["model"]): r for r in report["spend_roi"]}
    first = roi[("email", "first_touch")]
    assert first["cost"] == 20.0 and first["new_customers"] == 1.0
    assert first["cost_per_acquisition"] == 20.0
    assert first["roi"] == pytest.approx((100 - 20) / 20)
    assert roi[("email", "last_touch")]["roi"] == pytest.approx(-1.0)
    assert roi[("tv", "markov")]["orders"] == 0.0
    assert roi[("tv", "markov")]["cost_per_acquisition"] is None


def test_overview_against_the_previous_period(report: dict) -> None:
    rows = {r["metric"]: r for r in report["overview"]}
    assert rows["orders"]["value"] == 2 and rows["orders"]["previous"] == 1
    assert rows["revenue"]["value"] == 150.0 and rows["revenue"]["previous"] == 30.0
    assert rows["revenue"]["change"] == pytest.approx(4.0)
    assert rows["customers"]["value"] == 2  # D ordered after the cut-off
    assert rows["repeat_purchase_rate"]["value"] == 0.5
    assert rows["median_days_between_orders"]["value"] == 166.0  # 2025-01-05 -> 06-20


def test_channels_per_acquisition_channel(report: dict) -> None:
    channels = {r["channel"]: r for r in report["channels"]}
    assert channels["organic"]["buyers"] == 1 and channels["organic"]["repeat_rate"] == 1.0
    assert channels["email"]["first_order_value"] == 100.0
    assert channels["paid_search"]["conversion"] == 0.0
    assert "social" in channels and channels["social"]["customers"] == 1  # D signed up later


def test_small_shop_says_what_data_would_enable_the_missing_parts(shop: Path) -> None:
    page = (shop / "report.html").read_text()
    assert "Behaviour clusters need at least" in page
    assert "no churn champion" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_orders_only_workspace_still_reports(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text("customer_id,ordered_at\na,2024-01-01\nb,2024-02-01\na,2024-03-01\n")
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["ingest", str(orders), "--workspace", str(ws)]).exit_code == 0
    doc = tmp_path / "r.json"
    build_report(ws, json_path=doc)
    tables = json.loads(doc.read_text())
    assert tables["funnel"] == [] and tables["attribution"] == []
    assert "revenue" not in {r["metric"] for r in tables["overview"]}
    page = (ws / "outputs" / "report.html").read_text()
    assert "no events table" in page and "orders carry no prices" in page


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("channel,day,cost\nemail,2025-06-01,3\n", r"missing column\(s\) date or month"),
        ("channel,date,cost\nemail,2025-06-01,3\nsocial,2025-06-02,abc\n", r"cost is not a"),
        ("channel,date,cost\nemail,2025-06-01,-3\n", r"column cost is negative in row 1"),
        ("channel,month,cost\nemail,2025-13,3\n", r"column month is not a month"),
        ("channel,date,cost\n,2025-06-01,3\n", r"column channel is empty in row 1"),
    ],
)
def test_bad_spend_files_name_file_column_and_row(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "spend.csv"
    path.write_text(text)
    with pytest.raises(SpendError, match=message) as caught:
        read_spend(path)
    assert str(path) in str(caught.value)
    if "abc" in text:
        assert "row 2 ('abc')" in str(caught.value)


def test_report_command_exits_2_on_a_bad_spend_file(shop: Path, tmp_path: Path) -> None:
    bad = tmp_path / "spend.csv"
    bad.write_text("channel,date\nemail,2025-06-01\n")
    result = runner.invoke(app, ["report", "--workspace", str(shop / "ws"), "--spend", str(bad)])
    assert result.exit_code == 2
    assert "missing column(s) cost" in result.stderr and str(bad) in result.stderr


def test_report_on_an_empty_workspace_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "--workspace", str(tmp_path)])
    assert result.exit_code == 2
    assert "no ingested data" in result.stderr


def test_spend_reads_parquet_with_dates(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "spend.parquet"
    pd.DataFrame(
        {"Channel": ["email"], "Date": [pd.Timestamp("2025-06-03")], "Cost": [12.5]}
    ).to_parquet(path)
    spend = read_spend(path)
    assert spend.to_dict("records") == [
        {"channel": "email", "date": pd.Timestamp("2025-06-03"), "cost": 12.5}
    ]
    assert not math.isnan(spend["cost"].iloc[0])


def test_config_maps_other_event_names_to_steps(shop: Path, tmp_path: Path) -> None:
    config = tmp_path / "report.yaml"
    config.write_text("events:\n  checkout: [Wishlist_Add]\n")
    doc = tmp_path / "r.json"
    build_report(
        shop / "ws",
        as_of=date(2025, 6, 30),
        json_path=doc,
        config_path=config,
        out=tmp_path / "r.html",
    )
    steps = {r["step"]: r["sessions"] for r in json.loads(doc.read_text())["funnel"]}
    assert steps["checkout"] == 3  # SA2's wishlist_add now counts as a checkout step


def test_unknown_config_key_exits_2_naming_it(shop: Path, tmp_path: Path) -> None:
    config = tmp_path / "report.yaml"
    config.write_text("events:\n  chekout: [x]\n")
    result = runner.invoke(
        app, ["report", "--workspace", str(shop / "ws"), "--config", str(config)]
    )
    assert result.exit_code == 2
    assert "chekout" in result.stderr and str(config) in result.stderr


def test_identical_customers_get_a_line_instead_of_clusters(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    rows = "".join(f"c{i},2024-03-01,10\n" for i in range(80))
    orders.write_text("customer_id,ordered_at,amount\n" + rows)
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["ingest", str(orders), "--workspace", str(ws)]).exit_code == 0
    result = build_report(ws, json_path=tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["clusters"] == []
    page = result.out.read_text()
    assert "too alike" in page and "no customer has ordered in a month after" in page
