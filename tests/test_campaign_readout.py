"""Campaign read-outs: the Hillstrom experiment's published arm figures, lifts, SRM, planning."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.ingest.errors import IngestError
from churnrec.ingest.hillstrom import CAMPAIGN_ID, hillstrom_path
from churnrec.insights.campaigns import readout, sample_size
from churnrec.workspace import Workspace

runner = CliRunner()
PUBLISHED = {  # arm: customers, visit, conversion, spend per customer (README of the data set)
    "mens_email": (21307, 0.1828, 0.0125, 1.42),
    "womens_email": (21387, 0.1514, 0.0088, 1.08),
    "control": (21306, 0.1062, 0.0057, 0.65),
}


@pytest.fixture(scope="module")
def hillstrom_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The full experiment through `churnrec ingest --sample hillstrom`, as a shop would."""
    try:
        hillstrom_path()
    except IngestError as exc:
        pytest.skip(str(exc))
    ws = Workspace.at(tmp_path_factory.mktemp("hillstrom"))
    result = runner.invoke(app, ["ingest", "--sample", "hillstrom", "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    return ws


def test_hillstrom_readout_matches_the_published_arm_rates(hillstrom_ws: Workspace) -> None:
    result = runner.invoke(
        app,
        ["campaign", "readout", CAMPAIGN_ID, "--control", "control", "--json",
         "--workspace", str(hillstrom_ws.root)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["control"] == "control"
    arms = {a["arm"]: a for a in out["arms"]}
    for arm, (n, visit, conversion, spend) in PUBLISHED.items():
        assert arms[arm]["customers"] == n
        assert arms[arm]["means"][C.VISITED] == pytest.approx(visit, abs=5e-5)
        assert arms[arm]["means"][C.CONVERTED] == pytest.approx(conversion, abs=5e-5)
        assert arms[arm]["means"][C.REVENUE] == pytest.approx(spend, abs=5e-3)
    assert out["srm_detected"] is False
    lifts = {(x["arm"], x["outcome"]): x for x in out["lifts"]}
    mens_visit = lifts[("mens_email", C.VISITED)]
    assert mens_visit["absolute"] == pytest.approx(0.1828 - 0.1062, abs=2e-4)
    assert mens_visit["p_value"] < 1e-10
    low, high = mens_visit["absolute_ci"]
    assert low < mens_visit["absolute"] < high and high - low < 0.02
    assert lifts[("womens_email", C.REVENUE)]["relative"] == pytest.approx(
        1.08 / 0.65 - 1, abs=0.05
    )


def test_readout_is_logged_to_mlflow_with_the_lift_plot(hillstrom_ws: Workspace) -> None:
    from churnrec.store.registry import tracking_client

    result = runner.invoke(
        app, ["campaign", "readout", CAMPAIGN_ID, "--workspace", str(hillstrom_ws.root)]
    )
    assert result.exit_code == 0, result.output
    assert "sample ratio check" in result.stdout
    client = tracking_client(hillstrom_ws)
    experiment = client.get_experiment_by_name("campaigns")
    run = client.search_runs([experiment.experiment_id])[0]
    assert run.data.tags["campaign_id"] == CAMPAIGN_ID
    assert {"readout.json", "lift.png"} <= {a.path for a in client.list_artifacts(run.info.run_id)}


def _rows(n_treat: int, n_control: int, p_treat: float, p_control: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            C.ARM: ["email"] * n_treat + ["control"] * n_control,
            C.CONVERTED: np.r_[
                rng.random(n_treat) < p_treat, rng.random(n_control) < p_control
            ].astype(float),
        }
    )


def test_no_effect_gives_an_interval_around_zero_and_a_large_p_value() -> None:
    result = readout(_rows(5000, 5000, 0.1, 0.1), campaign_id="x", control="control")
    lift = result.lift("email", C.CONVERTED)
    assert lift.absolute_ci[0] < 0 < lift.absolute_ci[1]
    assert lift.p_value > 0.05
    assert 0.01 < lift.mde_absolute < 0.02  # 1.4 points detectable with 5,000 per arm at 10%


def test_sample_ratio_mismatch_is_flagged_against_the_intended_split() -> None:
    rows = _rows(5600, 4400, 0.1, 0.1)
    assert readout(rows, campaign_id="x", control="control").srm_detected
    assert not readout(
        rows,
        campaign_id="x",
        control="control",
        intended_split={"email": 0.56, "control": 0.44},
    ).srm_detected


def test_plan_gives_the_textbook_sample_size() -> None:
    # Fleiss (no continuity correction): 10% -> 12% needs 3,841 per arm
    assert sample_size(0.10, 0.02) == 3841
    result = runner.invoke(app, ["campaign", "plan", "--baseline-rate", "0.1", "--mde", "0.02"])
    assert result.exit_code == 0 and "3,841 customers per arm" in result.stdout
    bad = runner.invoke(app, ["campaign", "plan", "--baseline-rate", "1.5", "--mde", "0.02"])
    assert bad.exit_code == 2 and "baseline-rate" in bad.output


def test_outcomes_absent_from_the_table_come_from_orders_in_the_window(tmp_path: Path) -> None:
    from churnrec.ingest import ingest

    orders = pd.DataFrame(
        {
            C.CUSTOMER_ID: ["a", "a", "b", "c", "d"],
            C.ORDERED_AT: ["2024-01-01", "2024-03-05", "2024-03-20", "2024-03-03", "2024-01-02"],
            C.AMOUNT: [10.0, 30.0, 50.0, 20.0, 5.0],
        }
    )
    orders.to_csv(tmp_path / "orders.csv", index=False)
    ws = Workspace.at(tmp_path / "ws")
    ingest(ws, tmp_path / "orders.csv")
    campaigns = pd.DataFrame(
        {
            C.CUSTOMER_ID: ["a", "b", "c", "d"],
            C.CAMPAIGN_ID: "spring",
            C.ARM: ["email", "email", "control", "control"],
            C.SENT_AT: pd.Timestamp("2024-03-01"),
        }
    )
    campaigns.to_parquet(ws.table_path(C.CAMPAIGNS), index=False)
    result = runner.invoke(
        app, ["campaign", "readout", "spring", "--json", "--no-log", "--workspace", str(ws.root)]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    arms = {a["arm"]: a["means"] for a in out["arms"]}
    # a bought on day 4 ($30), b on day 19 (outside 14 days), c on day 2 ($20), d before
    assert arms["email"][C.CONVERTED] == 0.5 and arms["email"][C.REVENUE] == 15.0
    assert arms["control"][C.CONVERTED] == 0.5 and arms["control"][C.REVENUE] == 10.0
    assert arms["email"][C.VISITED] is None
    assert set(out["derived_outcomes"]) == {C.CONVERTED, C.REVENUE}
    missing = runner.invoke(app, ["campaign", "readout", "autumn", "--workspace", str(ws.root)])
    assert missing.exit_code == 2 and "autumn" in missing.output


def test_an_arm_without_any_conversion_is_read_out() -> None:
    """A treated arm with a zero rate has a lift (-100%) but no log-scale relative interval."""
    rows = pd.DataFrame(
        {C.ARM: ["control"] * 4 + ["email"] * 3, C.CONVERTED: [0, 1, 0, 1, 0, 0, 0]}
    )
    result = readout(rows, campaign_id="c0")
    lift = result.lift("email", C.CONVERTED)
    assert lift.absolute == -0.5 and lift.relative == -1.0
    assert all(math.isnan(v) for v in lift.relative_ci)
