"""`churnrec train uplift` on a small randomised campaign whose effect differs by customer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.workspace import Workspace

N = 6000


def _write_campaign(ws: Workspace, seed: int = 3) -> None:
    """Persuadables (young, urban) react; sure things buy anyway; a few react badly."""
    rng = np.random.default_rng(seed)
    ids = [f"u{i:05d}" for i in range(N)]
    kind = rng.choice(
        ["persuadable", "sure_thing", "lost_cause", "do_not_disturb"], N, p=[0.3, 0.2, 0.4, 0.1]
    )
    zone = np.where(kind == "persuadable", "urban", rng.choice(["urban", "rural"], N))
    age = np.where(kind == "persuadable", rng.normal(28, 4, N), rng.normal(50, 10, N))
    treated = rng.random(N) < 0.5
    base = np.select([kind == "sure_thing", kind == "do_not_disturb"], [0.6, 0.3], 0.05)
    effect = np.select([kind == "persuadable", kind == "do_not_disturb"], [0.35, -0.2], 0.0)
    converted = (rng.random(N) < base + treated * effect).astype(float)
    ws.data_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            C.CUSTOMER_ID: ids,
            C.CAMPAIGN_ID: "spring",
            C.ARM: np.where(treated, "email", "control"),
            C.SENT_AT: pd.Timestamp("2025-03-01"),
            C.CONVERTED: converted,
        }
    ).to_parquet(ws.table_path(C.CAMPAIGNS), index=False)
    pd.DataFrame(
        {C.CUSTOMER_ID: ids, "zone": zone, C.AGE: age, "recency": rng.integers(1, 13, N)}
    ).to_parquet(ws.data_dir / "customers.parquet", index=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    from churnrec.training.uplift import UpliftTrainConfig, train_uplift

    ws = Workspace.at(tmp_path_factory.mktemp("uplift"))
    _write_campaign(ws)
    config = UpliftTrainConfig(campaign_id="spring", treatment="email", model={"n_estimators": 60})
    return ws, train_uplift(ws, config)


def test_uplift_ranking_beats_random_and_risk_targeting_on_held_out_customers(trained) -> None:
    _, result = trained
    m = result.metrics
    assert {"val_t_qini", "val_x_qini"} <= set(result.metrics)
    for key in (
        "qini",
        "auuc",
        "uplift_at_10",
        "uplift_at_30",
        "ate",
        "risk_targeting_uplift_at_30",
    ):
        assert np.isfinite(m[key])
    assert m["uplift_at_30"] > m["ate"] + 0.1
    assert m["uplift_at_30"] > m["risk_targeting_uplift_at_30"] + 0.1
    assert m["qini"] > 0
    assert result.params["risk_score_source"] == "recency"


def test_registered_model_ranks_persuadables_first(trained) -> None:
    from churnrec.store.registry import load_champion

    ws, result = trained
    assert result.promotion.alias == "champion"
    model = load_champion(ws, "uplift").model
    frame = pd.DataFrame(
        {
            C.CUSTOMER_ID: ["a", "b"],
            "zone": ["urban", "rural"],
            C.AGE: [27.0, 55.0],
            "recency": [3, 3],
        }
    )
    young, old = model.predict(frame)
    assert young > old + 0.1


def test_cli_errors_name_the_missing_arm(trained) -> None:
    ws, _ = trained
    result = CliRunner().invoke(
        app,
        [
            "train",
            "uplift",
            "--campaign",
            "spring",
            "--treatment",
            "sms",
            "--workspace",
            str(ws.root),
        ],
    )
    assert result.exit_code == 2
    assert "sms" in result.output and "email" in result.output
