"""`churnrec target` (and the demo, which prints its summary) promises only what the uplift
model's holdout supports: the incremental outcome observed among the same top share of held-out
customers, with its interval, not the sum of the model's own predictions (the demo promised +190
conversions where the holdout supported about 115)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnrec import columns as C
from churnrec.workspace import Workspace

N = 3000


@pytest.fixture(scope="module")
def noisy_campaign(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Everyone gains the same +5 points; the attributes are noise the model can overfit."""
    from churnrec.training.uplift import UpliftTrainConfig, train_uplift

    ws = Workspace.at(tmp_path_factory.mktemp("noisy"))
    rng = np.random.default_rng(11)
    ids = [f"n{i:05d}" for i in range(N)]
    treated = rng.random(N) < 0.5
    ws.data_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            C.CUSTOMER_ID: ids,
            C.CAMPAIGN_ID: "june",
            C.ARM: np.where(treated, "email", "control"),
            C.SENT_AT: pd.Timestamp("2025-06-01"),
            C.CONVERTED: (rng.random(N) < 0.10 + 0.05 * treated).astype(float),
        }
    ).to_parquet(ws.table_path(C.CAMPAIGNS), index=False)
    pd.DataFrame(
        {
            C.CUSTOMER_ID: ids,
            **{f"noise_{j}": rng.normal(size=N) for j in range(5)},
            C.MARKETING_CONSENT: True,
        }
    ).to_parquet(ws.data_dir / "customers.parquet", index=False)
    config = UpliftTrainConfig(campaign_id="june", treatment="email", model={"n_estimators": 50})
    train_uplift(ws, config)
    return ws


def test_target_list_promises_what_the_holdout_supports(noisy_campaign: Workspace) -> None:
    from churnrec.serving.targeting import build_target_list
    from churnrec.store.quality import holdout_calibration
    from churnrec.store.registry import load_champion

    ws = noisy_campaign
    result = build_target_list(ws, campaign_size=300, margin=10.0)
    calibration = holdout_calibration(ws, load_champion(ws, "uplift").run_id)
    i = calibration["shares"].index(result.calibrated_on_share)
    assert result.calibrated_on_share >= result.contacts / result.candidates
    observed = calibration["observed"][i]
    assert result.expected_incremental_outcome == pytest.approx(result.contacts * observed)
    low, high = result.interval
    assert low <= result.expected_incremental_outcome <= high
    # the model's own sum on noise is inflated; the promise is not
    assert result.model_incremental_outcome > high
    assert result.expected_incremental_profit == pytest.approx(
        result.expected_incremental_outcome * 10.0
    )
    line = next(x for x in result.summary_lines() if x.startswith("expected incremental"))
    assert "95% interval" in line and "held-out customers" in line
