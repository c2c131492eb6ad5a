"""The live events log behind `POST /events`: durable, owner-only, replayed on restart."""

from __future__ import annotations

import stat
from datetime import datetime

import pytest
from pydantic import ValidationError

from churnrec.serving.events import LiveEvent, LiveEvents, live_events_path, to_day
from churnrec.workspace import Workspace

WHEN = datetime(2026, 1, 5, 12, 0)


def test_events_are_appended_owner_only_and_replayed_after_a_restart(tmp_path) -> None:
    ws = Workspace.at(tmp_path)
    live = LiveEvents(ws)
    live.record(
        LiveEvent(customer_id="c1", item_id="i1", event_type="add_to_cart", occurred_at=WHEN)
    )
    answer = live.record(
        LiveEvent(customer_id="c1", item_id="i2", event_type="purchase", occurred_at=WHEN)
    )
    assert (answer.cart_size, answer.live_orders) == (1, 1)
    live.record(LiveEvent(customer_id="c1", item_id="i1", event_type="purchase", occurred_at=WHEN))
    live.close()
    path = live_events_path(ws)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text().splitlines()[0] == "customer_id,occurred_at,event_type,item_id"

    with path.open("a") as f:
        f.write("c1,not-a-date,purchase")  # a torn last line after a crash
    again = LiveEvents(ws)  # a restart
    orders, cart, viewed = again.history("c1", after_day=0.0)
    assert orders == [(to_day(WHEN), ["i2", "i1"])]  # one order: same occurred_at
    assert cart == [] and viewed == []  # bought items leave the cart
    assert again.history("c1", after_day=to_day(WHEN) + 1) == ([], [], [])
    assert again.history("nobody", 0.0) == ([], [], [])


def test_time_zones_become_naive_utc_and_bad_events_are_rejected() -> None:
    event = LiveEvent(
        customer_id=42, item_id="i", event_type="view", occurred_at="2026-01-05T13:00:00+01:00"
    )
    assert event.customer_id == "42" and event.occurred_at == WHEN
    with pytest.raises(ValidationError):
        LiveEvent(customer_id="c", item_id="i", event_type="refund")
    with pytest.raises(ValidationError, match="ISO 8601"):
        LiveEvent(customer_id="c", item_id="i", event_type="view", occurred_at="yesterday")


def test_another_worker_sees_an_event_before_its_next_answer(tmp_path) -> None:
    ws = Workspace.at(tmp_path)
    first, second = LiveEvents(ws), LiveEvents(ws)  # two worker processes, one log
    assert second.version("c9") == 0
    first.record(LiveEvent(customer_id="c9", item_id="i7", event_type="purchase", occurred_at=WHEN))
    assert second.version("c9") == 1
    assert second.history("c9", 0.0)[0] == [(to_day(WHEN), ["i7"])]


def test_the_live_log_is_an_events_file_that_ingest_reads(tmp_path) -> None:
    import pandas as pd

    from churnrec.ingest import ingest

    ws = Workspace.at(tmp_path)
    live = LiveEvents(ws)
    live.record(LiveEvent(customer_id="c1", item_id="i1", event_type="view", occurred_at=WHEN))
    live.record(LiveEvent(customer_id="c1", item_id="i1", event_type="purchase", occurred_at=WHEN))
    live.close()
    ingest(ws, None, events=live_events_path(ws), now=datetime(2026, 2, 1))
    events = pd.read_parquet(ws.table_path("events"))
    assert sorted(events["event_type"]) == ["purchase", "view"]
    assert set(events["customer_id"]) == {"c1"} and set(events["item_id"]) == {"i1"}


@pytest.mark.parametrize("mode", ["interval", "always"])
def test_concurrent_events_are_all_kept_in_either_sync_mode(tmp_path, mode) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ws = Workspace.at(tmp_path)
    live = LiveEvents(ws, sync=mode, sync_seconds=0.01)

    def send(i: int) -> None:
        live.record(
            LiveEvent(customer_id=f"c{i % 7}", item_id=f"i{i}", event_type="view", occurred_at=WHEN)
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(200)))
    live.close()
    lines = live_events_path(ws).read_text().splitlines()
    assert len(lines) == 201  # header + every event, none torn
    again = LiveEvents(ws)
    assert sum(len(again.history(f"c{c}", 0.0)[2]) for c in range(7)) == 200
