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


def test_spend_dated_after_the_cut_off_says_so_instead_of_failing(shop: Path) -> None:
    later = shop / "spend_later.csv"
    later.write_text("channel,month,cost\nemail,2025-08,20\n")
    doc = shop / "later.json"
    args = ["report", "--workspace", str(shop / "ws"), "--as-of", AS_OF, "--json", str(doc)]
    result = runner.invoke(app, [*args, "--out", str(shop / "later.html"), "--spend", str(later)])
    assert result.exit_code == 0, result.output
    assert json.loads(doc.read_text())["spend_roi"] == []
    assert "no spend row is dated before" in (shop / "later.html").read_text()


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


# --- campaign read-outs and drift in the churn-and-retention section ---------------------------

SPRING_RATES = {"control": (200, 20), "email_a": (200, 40)}  # arm: (customers, converted)


def _campaigns_csv() -> str:
    """SPRING: known conversion per arm; MAY: outcomes from orders (A bought within 14 days);
    JUNE: outcome window still open at the cut-off; LATE: sent after it; AB: no control name;
    <i>X</i>: an id that is markup."""
    lines = ["customer_id,campaign_id,arm,sent_at,converted,revenue"]
    for arm, (n, converted) in SPRING_RATES.items():
        lines += [
            f"s_{arm}_{i},SPRING,{arm},2025-05-01 09:00:00,{int(i < converted)}," for i in range(n)
        ]
    lines += [
        f"{c},MAY,{arm},2025-06-01 09:00:00,,"
        for c, arm in (("A", "email"), ("E", "email"), ("B", "control"), ("C", "control"))
    ]
    lines += [
        f"{c},JUNE,{arm},2025-06-25 09:00:00,,"
        for c, arm in (("A", "email"), ("E", "email"), ("B", "control"), ("C", "control"))
    ]
    lines += [f"x{i},LATE,{arm},2025-07-02 09:00:00,1," for i, arm in enumerate("ab" * 2)]
    lines += [f"y{i},AB,{arm},2025-05-02 09:00:00,{i % 2}," for i, arm in enumerate("abab")]
    lines += [
        f"z{i},<i>X</i>,{arm},2025-04-02 09:00:00,{i % 2},"
        for i, arm in enumerate(["control", "email"] * 4)
    ]
    return "\n".join(lines) + "\n"


DRIFT_RECORD = {
    "checked_at": "2025-07-01T02:31:10+00:00",
    "drift": True,
    "reference_as_of": "2025-03-31",
    "current_as_of": AS_OF,
    "champion_version": "3",
    "drifted_features": ["recency_days"],
    "drifted_scores": ["churn_probability"],
    "thresholds": {"psi": 0.25, "ks_statistic": 0.15, "min_rows": 50, "auc_drop": 0.05},
    "features": {
        "recency_days": {
            "psi": 0.41,
            "ks_statistic": 0.22,
            "ks_pvalue": 1e-30,
            "n_reference": 4100,
            "n_current": 4300,
            "drift": True,
        },
        "orders_180d": {
            "psi": 0.05,
            "ks_statistic": 0.04,
            "ks_pvalue": 0.2,
            "n_reference": 4100,
            "n_current": 4300,
            "drift": False,
        },
        "age": {
            "psi": None,
            "ks_statistic": None,
            "ks_pvalue": None,
            "n_reference": 10,
            "n_current": 12,
            "drift": False,
        },
    },
    "scores": {
        "churn_probability": {
            "psi": 0.30,
            "ks_statistic": 0.12,
            "ks_pvalue": 1e-9,
            "n_reference": 4100,
            "n_current": 4300,
            "drift": True,
        },
    },
    "performance": {
        "as_of": "2025-03-31",
        "horizon_days": 90,
        "n": 4000,
        "roc_auc": 0.74,
        "training_roc_auc": 0.80,
        "degraded": True,
    },
}


@pytest.fixture(scope="module")
def campaign_report(shop: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    root = tmp_path_factory.mktemp("campaign_shop")
    (root / "campaigns.csv").write_text(_campaigns_csv())
    ws = root / "ws"
    result = runner.invoke(
        app,
        [
            "ingest",
            str(shop / "orders.csv"),
            "--customers",
            str(shop / "customers.csv"),
            "--campaigns",
            str(root / "campaigns.csv"),
            "--workspace",
            str(ws),
        ],
    )
    assert result.exit_code == 0, result.output
    (ws / "data" / "drift").mkdir(parents=True)
    (ws / "data" / "drift" / "latest.json").write_text(json.dumps(DRIFT_RECORD))
    doc = root / "r.json"
    built = build_report(ws, as_of=date(2025, 6, 30), json_path=doc, out=root / "r.html")
    return json.loads(doc.read_text()), built.out.read_text()


def _readout(doc: dict, campaign_id: str) -> dict:
    (found,) = [c for c in doc["campaigns"] if c["campaign_id"] == campaign_id]
    return found


def test_campaign_readout_has_known_rates_and_lift_interval(campaign_report) -> None:
    doc, page = campaign_report
    spring = _readout(doc, "SPRING")
    assert spring["control"] == "control"  # guessed from the arm's name
    arms = {a["arm"]: a for a in spring["arms"]}
    assert arms["control"]["customers"] == 200 and arms["email_a"]["customers"] == 200
    assert arms["control"]["conversion_rate"] == pytest.approx(0.10)
    assert arms["email_a"]["conversion_rate"] == pytest.approx(0.20)
    (lift,) = [x for x in spring["lifts"] if x["outcome"] == "converted"]
    se = math.sqrt(0.1 * 0.9 / 200 + 0.2 * 0.8 / 200)
    assert lift["lift"] == pytest.approx(0.10)
    assert lift["ci_low"] == pytest.approx(0.10 - 1.959964 * se, abs=1e-6)
    assert lift["ci_high"] == pytest.approx(0.10 + 1.959964 * se, abs=1e-6)
    assert lift["relative_lift"] == pytest.approx(1.0) and lift["significant"] is True
    takeaway = "email_a added +10.0 points of conversion (95% CI +3.1..+16.9) over control."
    assert spring["takeaway"] == takeaway
    assert takeaway in page and "Campaign SPRING" in page
    assert spring["srm_p_value"] is None  # no intended split given: no sample-ratio verdict
    # revenue is blank in the file and derived from orders: nobody bought, so nothing to compare
    assert spring["derived_outcomes"] == ["revenue"]
    assert "Not compared: revenue per customer is the same for every customer" in page


def test_campaign_outcomes_from_orders_only_when_their_window_closed(campaign_report) -> None:
    doc, page = campaign_report
    may = _readout(doc, "MAY")  # A ordered on 06-10, within 14 days of 06-01; B only on 06-20
    assert may["derived_outcomes"] == ["converted", "revenue"]
    rates = {a["arm"]: a["conversion_rate"] for a in may["arms"]}
    assert rates == {"control": 0.0, "email": 0.5}
    revenue = {a["arm"]: a["revenue_per_customer"] for a in may["arms"]}
    assert revenue == {"control": 0.0, "email": 50.0}
    ids = [c["campaign_id"] for c in doc["campaigns"]]
    assert "JUNE" not in ids and "LATE" not in ids and "AB" not in ids
    missing = " ".join(doc["meta"]["missing"]["churn"])
    assert "Campaign JUNE" in missing and "a report at 2025-07-09 or later" in missing
    assert "Campaign LATE: sent after the cut-off 2025-06-30" in missing
    assert "Campaign AB: cannot tell which arm is the control" in missing
    assert "campaigns.control" in missing
    assert "Campaign LATE: sent after the cut-off" in page
    assert "<i>X</i>" not in page and "Campaign &lt;i&gt;X&lt;/i&gt;" in page  # ids are text


def test_report_config_names_the_control_arm_and_intended_split(shop: Path, tmp_path: Path) -> None:
    (tmp_path / "campaigns.csv").write_text(_campaigns_csv())
    ws = tmp_path / "ws"
    args = ["ingest", str(shop / "orders.csv"), "--campaigns", str(tmp_path / "campaigns.csv")]
    assert runner.invoke(app, [*args, "--workspace", str(ws)]).exit_code == 0
    config = tmp_path / "report.yaml"
    config.write_text(
        "campaigns:\n  control: {AB: a}\n  intended_split: {SPRING: {control: 0.1, email_a: 0.9}}\n"
    )
    doc = tmp_path / "r.json"
    build_report(
        ws, as_of=date(2025, 6, 30), json_path=doc, config_path=config, out=tmp_path / "r.html"
    )
    tables = json.loads(doc.read_text())
    assert _readout(tables, "AB")["control"] == "a"
    spring = _readout(tables, "SPRING")
    assert spring["srm_detected"] is True and spring["srm_p_value"] < 1e-6  # 200/200, not 1:9
    assert "do not trust this read-out" in (tmp_path / "r.html").read_text()


def test_drift_subsection_shows_flagged_columns_and_champion_auc(campaign_report) -> None:
    doc, page = campaign_report
    drift = doc["drift"]
    assert drift["current_as_of"] == AS_OF and drift["drift"] is True
    columns = [(c["column"], c["kind"], c["psi"], c["drift"]) for c in drift["columns"]]
    assert columns == [
        ("recency_days", "feature", 0.41, True),
        ("churn_probability", "score", 0.30, True),
        ("orders_180d", "feature", 0.05, False),
        ("age", "feature", None, False),
    ]
    assert drift["performance"]["roc_auc"] == 0.74
    takeaway = drift["takeaway"]
    assert takeaway.startswith("1 of 3 features and 1 of 1 scores drifted: recency_days (PSI 0.41")
    assert "is 0.740 against 0.800 in training (-0.060), more than the 0.05 tolerance" in takeaway
    assert "Drift since the champion" in page and "retrain" in page


def test_drift_record_written_by_refresh_is_read(tmp_path: Path, shop: Path) -> None:
    from churnrec.training.drift import DriftThresholds, drift_result, write_latest
    from churnrec.workspace import Workspace

    ws = tmp_path / "ws"
    assert (
        runner.invoke(app, ["ingest", str(shop / "orders.csv"), "--workspace", str(ws)]).exit_code
        == 0
    )
    entry = {
        "psi": 0.01,
        "ks_statistic": 0.02,
        "ks_pvalue": 0.9,
        "n_reference": 60,
        "n_current": 60,
        "drift": False,
    }
    write_latest(
        Workspace.at(ws),
        drift_result(
            reference_as_of="2025-03-31",
            current_as_of="2025-06-01",
            features={"recency_days": entry},
            scores={},
            thresholds=DriftThresholds(),
        ),
    )
    doc = tmp_path / "r.json"
    build_report(ws, as_of=date(2025, 6, 30), json_path=doc, out=tmp_path / "r.html")
    drift = json.loads(doc.read_text())["drift"]
    assert drift["takeaway"].startswith("None of the 1 features and 0 scores drifted.")
    assert "could not be checked" in drift["takeaway"]
    notes = json.loads(doc.read_text())["meta"]["takeaways"]["churn"]
    assert any("29 days before this report's cut-off" in n for n in notes)
    build_report(ws, as_of=date(2025, 5, 31), json_path=doc, out=tmp_path / "r.html")
    later = json.loads(doc.read_text())
    assert later["drift"] is None  # checked at 2025-06-01: after this cut-off
    assert any("after this report's cut-off" in m for m in later["meta"]["missing"]["churn"])


def test_without_campaigns_or_drift_one_line_says_what_enables_them(report: dict) -> None:
    assert report["campaigns"] == [] and report["drift"] is None
    missing = " ".join(report["meta"]["missing"]["churn"])
    assert "`churnrec ingest --campaigns FILE`" in missing
    assert "`churnrec refresh` computes it" in missing


def test_reasons_tied_in_count_come_in_name_order() -> None:
    import pandas as pd

    from churnrec.columns import Score
    from churnrec.insights.report.churn import reason_table

    reasons = [{"feature": f"feature_{c}", "contribution": 0.1} for c in "fbdaec"]
    table = pd.DataFrame(
        {Score.RISK_TIER: ["high", "medium"], Score.TOP_REASONS: [reasons, reasons[:3]]}
    )
    assert list(reason_table(table)["feature"]) == [
        *("feature_b", "feature_d", "feature_f"),
        *("feature_a", "feature_c", "feature_e"),
    ]
