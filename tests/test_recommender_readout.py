"""The online A/B's arm rule, the attribution window of the read-out and the promotion verdict,
on real log files in a bare workspace (fast: no model, no server)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from churnrec.insights.recommendations_online import ReadoutError, recs_readout
from churnrec.scores.config import ServingConfigError, load_serving_config
from churnrec.serving.impressions import RecommendationLog, arm_for
from churnrec.training.promotion import OnlineEvidenceError, online_verdict
from churnrec.workspace import Workspace


def test_arms_are_stable_keyed_and_take_their_share() -> None:
    key, other = b"k" * 32, b"o" * 32
    ids = [f"C{i:06d}" for i in range(20_000)]
    arms = [arm_for(cid, key, 0.1) for cid in ids]
    assert arms == [arm_for(cid, key, 0.1) for cid in ids]  # same customer, same arm
    assert abs(arms.count("challenger") / len(ids) - 0.1) < 0.01
    assert arm_for(" C000001 ", key, 0.1) == arm_for("C000001", key, 0.1)  # the one id rule
    assert arms != [arm_for(cid, other, 0.1) for cid in ids]  # another workspace, other draw
    assert {arm_for(cid, key, 0.0) for cid in ids[:500]} == {"champion"}
    # a larger share keeps everyone who was already a challenger
    assert all(arm_for(c, key, 0.2) == "challenger" for c, a in zip(ids, arms) if a == "challenger")


def test_serving_config_reads_the_experiment(tmp_path: Path) -> None:
    path = tmp_path / "serving.yaml"
    path.write_text("experiments:\n  recommender:\n    challenger_share: 0.1\n")
    assert load_serving_config(path).experiments.recommender.challenger_share == 0.1
    assert load_serving_config(None).experiments.recommender.challenger_share == 0.0
    path.write_text("experiments:\n  recommender:\n    challenger_share: 1.5\n")
    with pytest.raises(ServingConfigError, match="challenger_share"):
        load_serving_config(path)


def _item(item_id: str, position: int, source: str) -> SimpleNamespace:
    return SimpleNamespace(item_id=item_id, position=position, source=source)


def test_readout_counts_only_shown_items_inside_the_window(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path)
    (tmp_path / "data").mkdir()
    with pytest.raises(ReadoutError, match="no impressions"):
        recs_readout(ws, log=False)
    log = RecommendationLog(ws, sync_seconds=0.01)
    shown = [_item("A", 1, "buy_again"), _item("B", 2, "model")]
    rid = log.impression(
        surface="recommendations",
        customer_id="C1",
        model_version="3",
        arm="champion",
        challenger_share=0.0,
        items=shown,
    )
    now = datetime.now()

    def event(item: str, kind: str, at: datetime, answer: str = rid) -> str | None:
        return log.event(
            recommendation_id=answer,
            position=None,
            customer_id="C1",
            item_id=item,
            event_type=kind,
            occurred_at=at.isoformat(),
        )

    assert event("A", "view", now) == "champion"  # inherits the answer's arm
    event("A", "purchase", now + timedelta(days=2))
    event("B", "add_to_cart", now + timedelta(days=8))  # after the 7-day window
    event("Z", "purchase", now)  # an item that was not shown
    assert event("A", "view", now, answer="unknown") is None
    log.close()
    result = recs_readout(ws, log=False)
    rows = {r["source"]: r for r in result.by_source}
    assert rows["all"]["impressions"] == 2
    assert (rows["all"]["clicks_or_views"], rows["all"]["purchases"]) == (1, 1)
    assert rows["all"]["add_to_carts"] == 0 and result.unattributed_events == 2
    assert rows["buy_again"]["purchase_rate"] == 1.0 and rows["model"]["purchase_rate"] == 0.0
    assert rows["all"]["revenue"] is None  # no prices in this workspace
    assert result.ab is None and "only the champion" in result.ab_note
    longer = recs_readout(ws, window_days=10, log=False)
    assert {r["source"]: r for r in longer.by_source}["all"]["add_to_carts"] == 1
    later = recs_readout(ws, since=(now + timedelta(days=1)).date(), log=False)
    assert later.answers == 0


def _ab(low: float, high: float, srm: bool = False) -> dict:
    lift = {"arm": "challenger", "outcome": "converted", "absolute": (low + high) / 2}
    return {
        "srm_detected": srm,
        "srm_p_value": 1e-6 if srm else 0.5,
        "lifts": [{**lift, "absolute_ci": [low, high]}],
    }


def test_online_verdict_promotes_only_a_clear_lift_on_a_sound_split() -> None:
    assert "converted lift" in online_verdict(_ab(0.01, 0.03), "converted")
    with pytest.raises(OnlineEvidenceError, match="does not exclude zero"):
        online_verdict(_ab(-0.01, 0.03), "converted")
    with pytest.raises(OnlineEvidenceError, match="worse"):
        online_verdict(_ab(-0.03, -0.01), "converted")
    with pytest.raises(OnlineEvidenceError, match="sample-ratio"):
        online_verdict(_ab(0.01, 0.03, srm=True), "converted")
    with pytest.raises(OnlineEvidenceError, match="one arm"):
        online_verdict(None, "converted")


def test_forget_removes_a_customer_from_the_logs_and_the_service_keeps_logging(
    tmp_path: Path,
) -> None:
    from churnrec.store.erasure import forget

    ws = Workspace.at(tmp_path)
    (tmp_path / "data").mkdir()
    log = RecommendationLog(ws, sync_seconds=0.01)

    def shown(cid: str) -> str:
        return log.impression(
            surface="recommendations",
            customer_id=cid,
            model_version="1",
            arm="champion",
            challenger_share=0.0,
            items=[_item("A", 1, "model")],
        )

    first = shown("C1")
    shown("C2")
    log.event(
        recommendation_id=first,
        position=1,
        customer_id="C1",
        item_id="A",
        event_type="view",
        occurred_at=datetime.now().isoformat(),
    )
    report = forget(ws, ["C1"])
    assert report.rows_removed == 2
    folder = tmp_path / "data" / "recommendation_log"
    assert log.customer_ref("C1") not in (folder / "impressions.jsonl").read_text()
    assert (folder / "events.jsonl").read_text() == ""
    shown("C3")  # a running service appends to the rewritten file, not the replaced one
    text = (folder / "impressions.jsonl").read_text()
    assert log.customer_ref("C2") in text and log.customer_ref("C3") in text
    log.close()


def test_a_replaced_log_file_keeps_one_fsync_thread(tmp_path: Path) -> None:
    # `churnrec forget` rewrites the log: appends move to the new file, the flusher stays one
    import threading

    ws = Workspace.at(tmp_path)
    (tmp_path / "data").mkdir()
    log = RecommendationLog(ws, sync_seconds=0.01)

    def flushers() -> int:
        return sum(t.name == "churnrec-impressions-fsync" for t in threading.enumerate())

    before = flushers()
    for round_ in range(4):
        log.impression(
            surface="recommendations",
            customer_id=f"C{round_}",
            model_version="1",
            arm="champion",
            challenger_share=0.0,
            items=[_item("A", 1, "model")],
        )
        log.impressions.path.unlink()  # as a rewrite would: the next line opens a new file
    log.impression(
        surface="recommendations",
        customer_id="C9",
        model_version="1",
        arm="champion",
        challenger_share=0.0,
        items=[_item("A", 1, "model")],
    )
    assert flushers() - before == 1
    assert len(log.impressions.path.read_text().splitlines()) == 1
