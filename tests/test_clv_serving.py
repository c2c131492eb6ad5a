"""`churnrec score` gains clv and expected_loss once a clv champion exists (absent before)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnrec.workspace import Workspace
from tests.trained_workspace import trained_workspace_copy


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return trained_workspace_copy(tmp_path_factory, tmp_path_factory.mktemp("clv_serving"))


def test_score_export_gains_clv_and_expected_loss(ws: Workspace) -> None:
    from churnrec.scores.export import score_customers
    from churnrec.training.clv import ClvTrainConfig, train_clv

    before = pd.read_csv(score_customers(ws, out=ws.root / "before.csv").out)
    assert "clv" not in before.columns and "expected_loss" not in before.columns

    config = ClvTrainConfig(
        horizon_days=90, n_train_cutoffs=1, tweedie_powers=[1.3], model={"n_estimators": 40}
    )
    train_clv(ws, config)
    after = pd.read_csv(score_customers(ws, out=ws.root / "after.csv").out)
    assert len(after) == len(before)
    assert after["clv"].notna().all() and (after["clv"] >= 0).all()
    np.testing.assert_allclose(after["expected_loss"], after["churn_probability"] * after["clv"])
    # the value at stake follows past spend: top spenders carry more predicted value
    assert after["clv"].std() > 0


def test_served_rows_carry_the_value_fields(ws: Workspace) -> None:
    from churnrec.serving.state import load_state
    from churnrec.serving.views import churn_score

    state = load_state(ws)
    customer = next(iter(state.position))
    score = churn_score(state, customer)
    assert score.clv is not None and score.expected_loss is not None
    assert score.expected_loss == pytest.approx(score.churn_probability * score.clv)
    assert score.uplift is None  # no uplift model in this workspace


def test_tiers_can_rank_by_expected_loss(ws: Workspace) -> None:
    from churnrec.scores.config import ServingConfig, TierConfig
    from churnrec.scores.export import score_customers
    from churnrec.serving.state import load_state

    config = ServingConfig(consent_default="allow", tiers=TierConfig(rank_by="expected_loss"))
    frame = pd.read_csv(score_customers(ws, out=ws.root / "el.csv", config=config).out)
    by_p = pd.read_csv(
        score_customers(
            ws, out=ws.root / "p.csv", config=ServingConfig(consent_default="allow")
        ).out
    )
    assert frame["expected_loss"].is_monotonic_decreasing  # the export follows the ranking
    high = frame[frame["risk_tier"] == "high"]
    assert 0 < len(high) < 0.2 * len(frame)  # the top 10% of all scored, consent aside
    assert (frame["risk_tier"].iloc[: len(high)] == "high").all()
    assert (
        high["expected_loss"].min()
        >= frame.loc[frame["risk_tier"] != "high", "expected_loss"].max()
    )
    # a different list than by probability alone: small spenders make way for big ones
    high_p = set(by_p.loc[by_p["risk_tier"] == "high", "customer_id"])
    assert set(high["customer_id"]) != high_p
    cuts = load_state(ws, config).tier_cuts
    assert cuts.rank_by == "expected_loss" and cuts.high > 0
