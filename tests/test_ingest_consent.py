"""Consent is the last value a customer explicitly gave: refreshes without it never reset it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from churnrec import columns as C
from churnrec.ingest import ingest
from churnrec.ingest.consent import read_consent
from churnrec.workspace import Workspace

NOW = datetime(2024, 6, 1)


def _customers(ws: Workspace, tmp_path: Path, text: str):
    src = tmp_path / "customers.csv"
    src.write_text(text)
    return ingest(ws, None, customers=src, now=NOW).tables[C.CUSTOMERS]


def _stored(ws: Workspace) -> pd.DataFrame:
    return pd.read_parquet(ws.table_path(C.CUSTOMERS)).set_index(C.CUSTOMER_ID).sort_index()


def test_refresh_without_consent_column_keeps_consent_and_other_columns(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    _customers(
        ws,
        tmp_path,
        "customer_id,region,age,marketing_consent\nc1,north,30,no\nc2,south,40,yes\n",
    )
    t = _customers(ws, tmp_path, "customer_id,region\nc1,west\nc2,south\n")  # region-only
    got = _stored(ws)
    assert got[C.MARKETING_CONSENT].tolist() == [False, True]  # not reset to unknown
    assert got[C.AGE].tolist() == [30.0, 40.0]  # a column the refresh lacks is not wiped
    assert got[C.REGION].tolist() == ["west", "south"]
    assert (t.rows_new, t.rows_updated, t.rows_unchanged) == (0, 1, 1)


def test_blank_consent_cell_keeps_stored_value_explicit_value_replaces_it(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    _customers(ws, tmp_path, "customer_id,marketing_consent\nc1,no\nc2,yes\nc3,yes\n")
    _customers(ws, tmp_path, "customer_id,marketing_consent\nc1,\nc2,\nc3,unsubscribed\n")
    got = _stored(ws)[C.MARKETING_CONSENT]
    assert got.tolist() == [False, True, False]  # blank never turns a "no" into unknown


@pytest.mark.parametrize(
    "word",
    ["no", "False", "0", "0.0", "N", "opt-out", "Opt Out", "OPT_OUT", "unsubscribed", "nein"]
    + ["non", "否", "nee", "nej", "ei", "Nein."],
)
def test_opt_out_spellings_read_as_no(word):
    values, bad = read_consent(pd.Series([word], dtype="str"))
    assert values.tolist() == [False] and not bad.any()


@pytest.mark.parametrize(
    "word",
    ["yes", "TRUE", "1", "1.0", "y", "opt-in", "Opt In", "subscribed", "ja", "oui", "si", "sí"]
    + ["是", "Yes!"],
)
def test_opt_in_spellings_read_as_yes(word):
    values, bad = read_consent(pd.Series([word], dtype="str"))
    assert values.tolist() == [True] and not bad.any()


def test_unreadable_consent_quarantines_the_cell_and_keeps_the_customer_as_no(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    _customers(ws, tmp_path, "customer_id,marketing_consent\nc1,yes\n")
    t = _customers(ws, tmp_path, "customer_id,region,marketing_consent\nc1,north,maybe\nc2,,x\n")
    assert (t.rows_read, t.rows_accepted, t.rows_quarantined) == (2, 2, 0)
    assert t.cells_by_reason == {"bad_consent": 2}
    got = _stored(ws)
    assert got[C.MARKETING_CONSENT].tolist() == [False, False]  # unreadable is never a yes
    assert got.loc["c1", C.REGION] == "north"
    q = pd.read_csv(ws.quarantine_path(C.CUSTOMERS), dtype=str, keep_default_na=False)
    assert q[
        [C.SOURCE_ROW, C.REASON, C.QUARANTINE_COLUMN, C.QUARANTINE_ACTION]
    ].values.tolist() == [
        ["1", "bad_consent", "marketing_consent", "cell_set_to_no"],
        ["2", "bad_consent", "marketing_consent", "cell_set_to_no"],
    ]
    assert q["marketing_consent"].tolist() == ["maybe", "x"]
