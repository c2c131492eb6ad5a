"""Recommendations over real HTTP: flags, cart context, live events that survive a restart;
and the batch export (`churnrec recommend`), consent-aware, on the same trained workspace."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from tests.server_process import running_server
from tests.trained_workspace import trained_workspace_copy

pytestmark = pytest.mark.slow
API_KEY = "rec-key-456"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory):
    return trained_workspace_copy(tmp_path_factory, tmp_path_factory.mktemp("rec_served"))


@contextmanager
def _server(workspace) -> Iterator[httpx.Client]:
    args = ("--reload-seconds", "0")
    with running_server(workspace.root, API_KEY, *args, log_name="rec_server.log") as base:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            yield client


def _orders(workspace) -> pd.DataFrame:
    orders = pd.read_parquet(workspace.orders_path)
    return orders[~orders[C.IS_RETURN]]


def test_answers_flag_repeat_and_new_cart_and_live_events_survive_a_restart(workspace) -> None:
    orders = _orders(workspace)
    heavy = orders[C.CUSTOMER_ID].value_counts().index[0]
    bought = set(orders.loc[orders[C.CUSTOMER_ID] == heavy, C.ITEM_ID])
    rare_item = str(orders[C.ITEM_ID].value_counts().index[-1])
    cart = [str(i) for i in orders[C.ITEM_ID].value_counts().index[:2]]
    with _server(workspace) as client:
        body = client.post("/recommendations", json={"customer_id": heavy, "k": 10}).json()
        assert body["known_customer"] is True and body["fallback"] is None
        kinds = {i["item_id"]: i["kind"] for i in body["items"]}
        assert len(kinds) == 10 and set(kinds.values()) <= {"repeat", "new"}
        assert all((kind == "repeat") == (item in bought) for item, kind in kinds.items())
        fresh = client.post(
            "/recommendations", json={"customer_id": heavy, "k": 10, "exclude_purchased": True}
        ).json()["items"]
        assert {i["kind"] for i in fresh} == {"new"} and not {i["item_id"] for i in fresh} & bought

        with_cart = client.post(
            "/recommendations", json={"customer_id": heavy, "k": 10, "cart_item_ids": cart}
        ).json()["items"]
        assert not {i["item_id"] for i in with_cart} & set(cart)
        # a visitor with only a cart gets its complements, not the popular fallback
        visitor = client.post(
            "/recommendations", json={"customer_id": "visitor-1", "k": 10, "cart_item_ids": cart}
        ).json()
        assert visitor["fallback"] is None and not {i["item_id"] for i in visitor["items"]} & set(
            cart
        )
        assert "bought_together" in {i["source"] for i in visitor["items"]}

        # a walk-in customer: popular until they buy, then their purchase is buy-again history
        new = client.post("/recommendations", json={"customer_id": "walk-in-7", "k": 10}).json()
        assert new["fallback"] == "popular"
        assert client.post("/events", json={"customer_id": "walk-in-7"}).status_code == 400
        bad = {"customer_id": "w", "item_id": "i", "event_type": "refund"}
        assert client.post("/events", json=bad).status_code == 400
        assert httpx.post(f"{client.base_url}/events", json=bad).status_code == 401
        event = {
            "customer_id": "walk-in-7",
            "item_id": rare_item,
            "event_type": "purchase",
            "occurred_at": "2026-01-01T10:00:00",  # after the data (2025), not in the future
        }
        accepted = client.post("/events", json=event).json()
        assert accepted["accepted"] is True and accepted["live_orders"] == 1
        after = client.post("/recommendations", json={"customer_id": "walk-in-7", "k": 50}).json()
        assert after["fallback"] is None
        mine = {i["item_id"]: i for i in after["items"]}
        assert mine[rare_item]["kind"] == "repeat" and mine[rare_item]["source"] == "buy_again"
    log = workspace.data_dir / "live_events" / "events.csv"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    with _server(workspace) as client:  # restarted: the event was kept
        again = client.post("/recommendations", json={"customer_id": "walk-in-7", "k": 50}).json()
        assert again["fallback"] is None and again["items"] == after["items"]


def test_batch_export_matches_the_served_answers_and_respects_consent(
    workspace, tmp_path: Path
) -> None:
    from churnrec.store.registry import load_champion

    runner = CliRunner()
    out = tmp_path / "recs.csv"
    args = ["recommend", "--workspace", str(workspace.root), "--out", str(out), "--k", "5"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    recs = pd.read_csv(out, dtype={C.CUSTOMER_ID: str, C.ITEM_ID: str})
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert list(recs.columns) == [C.CUSTOMER_ID, "rank", C.ITEM_ID, "score", "source", "kind"]
    model = load_champion(workspace, "recommender").model
    assert recs[C.CUSTOMER_ID].nunique() == len(model.sources.log.users)
    assert (recs.groupby(C.CUSTOMER_ID).size() == 5).all()
    some = sorted(recs[C.CUSTOMER_ID].unique())[:5]
    for cid in some:
        served = model.recommend(cid, 5)[C.ITEM_ID].tolist()
        assert (
            recs.loc[recs[C.CUSTOMER_ID] == cid].sort_values("rank")[C.ITEM_ID].tolist() == served
        )
    from churnrec.serving.recommend_export import export_recommendations

    threaded = tmp_path / "threaded.csv"  # small blocks on two threads: the same file
    export_recommendations(workspace, out=threaded, k=5, block=7, jobs=2)
    pd.testing.assert_frame_equal(
        pd.read_csv(threaded, dtype={C.CUSTOMER_ID: str, C.ITEM_ID: str}), recs
    )

    customers = pd.read_parquet(workspace.table_path(C.CUSTOMERS))
    listed = customers[C.CUSTOMER_ID].iloc[:40].tolist()
    consent = customers.set_index(C.CUSTOMER_ID)[C.MARKETING_CONSENT].reindex(listed)
    (tmp_path / "ids.txt").write_text("\n".join(listed) + "\n")
    out2 = tmp_path / "marketing.parquet"
    result = runner.invoke(
        app,
        ["recommend", "--workspace", str(workspace.root), "--out", str(out2)]
        + ["--customers", str(tmp_path / "ids.txt"), "--for-marketing"],
    )
    assert result.exit_code == 0, result.output
    written = set(pd.read_parquet(out2)[C.CUSTOMER_ID])
    assert written == {c for c in listed if pd.notna(consent[c]) and bool(consent[c])}
    dropped = len(listed) - len(written)
    assert f"left out: {dropped:,} without marketing consent" in result.output

    bad = tmp_path / "bad.csv"
    bad.write_text("client\nx\n")
    result = runner.invoke(
        app,
        ["recommend", "--workspace", str(workspace.root), "--out", str(out)]
        + ["--customers", str(bad)],
    )
    assert result.exit_code == 2 and "no 'customer_id' column" in result.output


def test_export_blocks_give_every_thread_several_and_stay_bounded() -> None:
    """4,096-customer blocks once made a 4,574-customer export one block on one of two threads."""
    from churnrec.serving.recommend_export import MAX_BLOCK, block_size

    for n, jobs in [(4_574, 2), (20_000, 8), (1_000_000, 2), (3_000, 16)]:
        size = block_size(n, jobs)
        blocks = -(-n // size)
        assert size <= MAX_BLOCK
        assert blocks >= min(2 * jobs, n // 256)  # several per thread once blocks can be small
    assert block_size(10, 4) == 256  # tiny exports: one block, no per-call overhead storm
