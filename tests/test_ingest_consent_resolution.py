"""Consent that cannot lose a no: decided per customer from every row of a file (issue 19).

Row rules lost a no three ways: a quarantined row, last-row-wins with a blank or a yes, and
ids that differ only in Unicode form. Here each probe of the issue is checked through the
stored table and the very function `score`, `target` and the API use to decide who may be
contacted (`serving.consent`), with `consent_default: allow` too.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from churnrec import columns as C
from churnrec.ingest import IngestError, ingest
from churnrec.scores.consent import contactable, read_consent
from churnrec.workspace import Workspace

NOW = datetime(2024, 6, 1)
HEADER = "customer_id,age,signed_up_at,marketing_consent\n"


def _customers(ws: Workspace, tmp_path: Path, text: str):
    src = tmp_path / "customers.csv"
    src.write_text(text, encoding="utf-8")
    return ingest(ws, None, customers=src, now=NOW).tables[C.CUSTOMERS]


def _exported(ws: Workspace, customer_id: str, *, allow: bool) -> bool:
    """Would `score` / `target` put this customer in a marketing export?"""
    consent = read_consent(ws)
    recorded = consent.reindex([customer_id]).astype("boolean")
    return bool(contactable(recorded, unknown_allowed=allow)[0])


@pytest.fixture
def ws_said_yes(tmp_path) -> Workspace:
    ws = Workspace.at(tmp_path / "ws")
    _customers(ws, tmp_path, HEADER + "C000008,33,2020-01-01,yes\nC000009,40,2020-01-01,yes\n")
    assert _exported(ws, "C000008", allow=False)
    return ws


@pytest.mark.parametrize(
    "row",
    ["C000008,thirty-three,2020-01-01,no", "C000008,33,2099-01-01,no"],
    ids=["bad_age", "future_signup"],
)
def test_a_no_in_a_quarantined_row_is_applied(ws_said_yes, tmp_path, row):
    t = _customers(ws_said_yes, tmp_path, HEADER + row + "\nC000009,41,2020-01-01,yes\n")
    assert not _exported(ws_said_yes, "C000008", allow=False)
    assert not _exported(ws_said_yes, "C000008", allow=True)
    assert t.rows_quarantined == 1  # the row is still quarantined for its bad cell
    assert t.rows_read == t.rows_accepted + t.rows_quarantined
    assert t.consent_no_from_quarantine == 1
    stored = pd.read_parquet(ws_said_yes.table_path(C.CUSTOMERS)).set_index(C.CUSTOMER_ID)
    assert stored.loc["C000008", C.AGE] == 33.0  # the bad row changed nothing else


def test_a_file_whose_only_row_is_rejected_still_stores_its_no(ws_said_yes, tmp_path):
    with pytest.raises(IngestError, match="the no of 1 customer"):
        _customers(ws_said_yes, tmp_path, HEADER + "C000008,thirty-three,2020-01-01,no\n")
    assert not _exported(ws_said_yes, "C000008", allow=True)
    assert _exported(ws_said_yes, "C000009", allow=False)


def test_a_no_for_a_customer_not_yet_stored_is_kept_even_when_its_row_is_rejected(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    _customers(ws, tmp_path, HEADER + "C1,30,2020-01-01,yes\nC2,x,2020-01-01,no\n")
    assert not _exported(ws, "C2", allow=True)  # unknown under `allow` would export C2


@pytest.mark.parametrize("second", ["", "yes", "True"])
def test_a_later_blank_or_yes_in_the_same_file_does_not_undo_a_no(ws_said_yes, tmp_path, second):
    t = _customers(
        ws_said_yes,
        tmp_path,
        HEADER + f"C000008,33,2020-01-01,no\nC000008,33,2020-01-01,{second}\n",
    )
    assert t.quarantined_by_reason == {"duplicate_id": 1}
    assert not _exported(ws_said_yes, "C000008", allow=False)
    assert not _exported(ws_said_yes, "C000008", allow=True)


def test_false_then_true_is_reported_as_a_conflict_by_id_count(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    t = _customers(
        ws,
        tmp_path,
        HEADER
        + "C1,30,2020-01-01,False\nC1,30,2020-01-01,True\n"
        + "C2,30,2020-01-01,yes\nC2,30,2020-01-01,no\nC3,30,2020-01-01,yes\n",
    )
    assert [_exported(ws, c, allow=False) for c in ("C1", "C2", "C3")] == [False, False, True]
    assert t.consent_conflicts == 2
    assert any("2 customer id(s) said both yes and no" in w for w in t.warnings)
    assert not any("C1" in w or "C2" in w for w in t.warnings)  # counts, never ids


def test_ids_equal_after_nfc_and_trimming_are_one_customer(tmp_path):
    nfc = unicodedata.normalize("NFC", "José")
    nfd = unicodedata.normalize("NFD", "José")
    assert nfc != nfd
    ws = Workspace.at(tmp_path / "ws")
    _customers(ws, tmp_path, HEADER + f"{nfc},30,2020-01-01,no\n {nfd} ,30,2020-01-01,yes\n")
    stored = pd.read_parquet(ws.table_path(C.CUSTOMERS))
    assert stored[C.CUSTOMER_ID].tolist() == [nfc]
    assert not _exported(ws, nfc, allow=True)


def test_every_id_column_is_stored_nfc(tmp_path):
    nfc, nfd = (unicodedata.normalize(f, "Zoë-Ω") for f in ("NFC", "NFD"))
    ws = Workspace.at(tmp_path / "ws")
    orders = tmp_path / "orders.csv"
    orders.write_text(
        f"customer_id,order_id,item_id,ordered_at\n{nfd},o{nfd},i{nfd},2024-01-01\n",
        encoding="utf-8",
    )
    events = tmp_path / "events.csv"
    events.write_text(
        f"customer_id,occurred_at,event_type,item_id\n{nfd},2024-01-01,view,i{nfd}\n",
        encoding="utf-8",
    )
    campaigns = tmp_path / "campaigns.csv"
    campaigns.write_text(
        f"customer_id,campaign_id,arm,sent_at\n{nfd},c{nfd},control,2024-01-01\n",
        encoding="utf-8",
    )
    ingest(ws, orders, events=events, campaigns=campaigns, now=NOW)
    o = pd.read_parquet(ws.orders_path).iloc[0]
    assert (o[C.CUSTOMER_ID], o[C.ORDER_ID], o[C.ITEM_ID]) == (nfc, f"o{nfc}", f"i{nfc}")
    e = pd.read_parquet(ws.table_path(C.EVENTS)).iloc[0]
    assert (e[C.CUSTOMER_ID], e[C.ITEM_ID]) == (nfc, f"i{nfc}")
    c = pd.read_parquet(ws.table_path(C.CAMPAIGNS)).iloc[0]
    assert (c[C.CUSTOMER_ID], c[C.CAMPAIGN_ID]) == (nfc, f"c{nfc}")


def test_ids_stored_before_the_id_rule_meet_new_ones(tmp_path):
    nfc = unicodedata.normalize("NFC", "José")
    nfd = unicodedata.normalize("NFD", "José")
    ws = Workspace.at(tmp_path / "ws")
    _customers(ws, tmp_path, HEADER + "C1,30,2020-01-01,yes\n")
    # a workspace written by an older churnrec: both spellings stored, each said yes
    stored = pd.read_parquet(ws.table_path(C.CUSTOMERS))
    old = pd.concat([stored.assign(customer_id=nfd), stored.assign(customer_id=f"{nfd} ")])
    old.to_parquet(ws.table_path(C.CUSTOMERS), index=False)
    _customers(ws, tmp_path, HEADER + f"{nfc},30,2020-01-01,no\n")
    got = pd.read_parquet(ws.table_path(C.CUSTOMERS))
    assert got[C.CUSTOMER_ID].tolist() == [nfc]
    assert got[C.MARKETING_CONSENT].tolist() == [False]
    assert not _exported(ws, nfc, allow=True)


def test_a_first_customers_file_whose_rows_are_all_rejected_stores_only_the_no(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    with pytest.raises(IngestError, match="the no of 1 customer"):
        _customers(ws, tmp_path, HEADER + "Z1,bad,2020-01-01,no\nZ2,bad,2020-01-01,yes\n")
    stored = pd.read_parquet(ws.table_path(C.CUSTOMERS))
    assert stored[C.CUSTOMER_ID].tolist() == ["Z1"]  # the yes of a rejected row is not kept
    assert stored[C.MARKETING_CONSENT].tolist() == [False]
    assert stored[C.AGE].isna().all()
