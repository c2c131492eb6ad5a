"""The built-in shop's past campaign: a read-out shows the lift, uplift beats risk targeting."""

from __future__ import annotations

import pandas as pd
import pytest

from churnrec import columns as C
from churnrec.synthetic import ShopConfig, generate_shop, write_shop
from churnrec.synthetic.campaigns import CONTROL, TREATMENT, campaign_id_for, write_campaigns
from churnrec.workspace import Workspace

CONFIG = ShopConfig(n_customers=5000, n_items=200, seed=21)


@pytest.fixture(scope="module")
def shop_ws(tmp_path_factory: pytest.TempPathFactory):
    from churnrec.ingest import ingest

    root = tmp_path_factory.mktemp("shop_campaign")
    tables = generate_shop(CONFIG)
    files = write_shop(tables, root / "shop", "parquet")
    ws = Workspace.at(root / "ws")
    ingest(ws, files[C.ORDERS], customers=files[C.CUSTOMERS], items=files[C.ITEMS])
    write_campaigns(tables.campaigns, ws.table_path(C.CAMPAIGNS))
    return ws, tables


def test_campaign_is_randomised_and_reproducible(shop_ws) -> None:
    _, tables = shop_ws
    rows = tables.campaigns
    assert set(rows.columns) == {
        C.CUSTOMER_ID,
        C.CAMPAIGN_ID,
        C.ARM,
        C.SENT_AT,
        C.CONVERTED,
        C.REVENUE,
    }
    assert rows[C.CUSTOMER_ID].is_unique
    assert set(rows[C.ARM]) == {TREATMENT, CONTROL}
    assert abs((rows[C.ARM] == TREATMENT).mean() - 0.5) < 0.03
    # customers who bought nothing before the send are not in the campaign
    sent = rows[C.SENT_AT].iloc[0]
    orders = tables.orders
    before = set(orders.loc[pd.to_datetime(orders[C.ORDERED_AT]) < sent.normalize(), C.CUSTOMER_ID])
    assert set(rows[C.CUSTOMER_ID]) <= before
    again = generate_shop(CONFIG)
    pd.testing.assert_frame_equal(rows, again.campaigns)


def test_readout_and_uplift_on_the_shop_campaign(shop_ws) -> None:
    from churnrec.insights.campaigns import campaign_readout
    from churnrec.training.uplift import UpliftTrainConfig, train_uplift

    ws, _ = shop_ws
    campaign = campaign_id_for(CONFIG)
    readout = campaign_readout(ws, campaign, log=False)
    assert readout.control == CONTROL and not readout.srm_detected
    lift = readout.lift(TREATMENT, C.CONVERTED)
    assert lift.absolute_ci[0] > 0 and lift.p_value < 0.001

    result = train_uplift(
        ws, UpliftTrainConfig(campaign_id=campaign, treatment=TREATMENT, model={"n_estimators": 80})
    )
    m = result.metrics
    assert result.params["risk_score_source"] == "recency_days"  # no churn model in this workspace
    assert m["uplift_at_30"] > m["ate"]
    assert m["uplift_at_30"] > m["risk_targeting_uplift_at_30"] + 0.05


def test_value_demo_ends_with_a_target_list(shop_ws) -> None:
    from churnrec.cli.commands._value_demo import run_value_demo
    from churnrec.training.clv import ClvTrainConfig

    ws, tables = shop_ws
    quick = ClvTrainConfig(
        horizon_days=180, n_train_cutoffs=1, tweedie_powers=[1.3], model={"n_estimators": 40}
    )
    lines = run_value_demo(ws, tables, clv_config=quick)
    print("\n".join(lines))
    text = "\n".join(lines)
    assert "clv: gini" in text and "uplift:" in text
    assert "expected incremental converted" in text
    listed = pd.read_csv(ws.outputs_dir / "target_list.csv", dtype={C.CUSTOMER_ID: str})
    assert 0 < len(listed) <= 500
