"""Campaigns (who got which arm, what happened), extra customer attributes, the Hillstrom sample."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.ingest import IngestError, ingest
from churnrec.ingest.hillstrom import ENV_VAR, hillstrom_path
from churnrec.workspace import Workspace

NOW = datetime(2024, 6, 1)
CAMPAIGNS = """Kunde,Kampagne,Gruppe,Versand,Kauf,Umsatz,Besuch
c1,spring,control,2024-03-01,0,0,1
c2,spring,email_a,2024-03-01,1,"1,299.00",1
c3,spring,email_a,2024-03-01,maybe,0,0
,spring,email_a,2024-03-01,0,0,0
c1,summer,email_a,2099-06-01,0,0,0
"""
MAPPING = [
    "customer_id=Kunde",
    "campaign_id=Kampagne",
    "arm=Gruppe",
    "sent_at=Versand",
    "converted=Kauf",
    "revenue=Umsatz",
    "visited=Besuch",
]


def test_campaigns_file_with_mapping_quarantine_and_counts(tmp_path):
    src = tmp_path / "campaigns.csv"
    src.write_text(CAMPAIGNS)
    ws = tmp_path / "ws"
    args = ["ingest", "--campaigns", str(src), "--workspace", str(ws), "--json"]
    for flag in MAPPING:
        args += ["--column", flag]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    t = json.loads(result.stdout)["tables"]["campaigns"]
    assert (t["rows_read"], t["rows_accepted"], t["rows_quarantined"]) == (5, 2, 3)
    assert t["quarantined_by_reason"] == {
        "bad_flag": 1,
        "future_date": 1,
        "missing_customer_id": 1,
    }
    got = pd.read_parquet(ws / "data" / "campaigns.parquet").sort_values(C.ARM)
    assert got[C.ARM].tolist() == ["control", "email_a"]
    assert got[C.REVENUE].tolist() == [0.0, 1299.0]
    assert got[C.CONVERTED].tolist() == [0.0, 1.0]
    assert str(got[C.SENT_AT].dtype) == "datetime64[us]"
    manifest = json.loads((ws / "data" / "manifest.json").read_text())["tables"]["campaigns"]
    assert manifest["arms"] == ["control", "email_a"] and manifest["campaigns"] == ["spring"]


def test_campaign_rows_are_keyed_by_customer_and_campaign(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    src = tmp_path / "c.csv"
    src.write_text("customer_id,campaign_id,arm,sent_at\nc1,k,control,2024-01-01\n")
    ingest(ws, None, campaigns=src, now=NOW)
    src.write_text("customer_id,campaign_id,arm,sent_at,converted\nc1,k,control,2024-01-01,1\n")
    t = ingest(ws, None, campaigns=src, now=NOW).tables[C.CAMPAIGNS]
    assert (t.rows_new, t.rows_updated) == (0, 1)
    assert pd.read_parquet(ws.table_path(C.CAMPAIGNS))[C.CONVERTED].tolist() == [1.0]


def test_extra_customer_columns_are_kept_and_listed(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    src = tmp_path / "c.csv"
    src.write_text("customer_id,newbie,zip_code,region\nc1,1,Urban,north\nc2,0,Rural,south\n")
    ingest(ws, None, customers=src, now=NOW)
    src.write_text("customer_id,region\nc1,west\n")  # a refresh without them keeps them
    ingest(ws, None, customers=src, now=NOW)
    got = pd.read_parquet(ws.table_path(C.CUSTOMERS)).set_index(C.CUSTOMER_ID).sort_index()
    assert got["newbie"].tolist() == [1.0, 0.0]  # numeric stays numeric
    assert got["zip_code"].tolist() == ["Urban", "Rural"]
    assert got[C.REGION].tolist() == ["west", "south"]
    extras = ws.read_manifest()["tables"][C.CUSTOMERS]["extra_columns"]
    assert extras == ["newbie", "zip_code"]


def test_missing_hillstrom_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(IngestError, match=ENV_VAR):
        hillstrom_path()


def _hillstrom_file() -> Path:
    try:
        return hillstrom_path()
    except IngestError as exc:
        pytest.skip(str(exc))


def test_hillstrom_sample_arms_customers_and_orders(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(_hillstrom_file()))
    ws = tmp_path / "ws"
    result = CliRunner().invoke(app, ["ingest", "--sample", "hillstrom", "--workspace", str(ws)])
    assert result.exit_code == 0, result.output
    campaigns = pd.read_parquet(ws / "data" / "campaigns.parquet")
    assert campaigns[C.ARM].value_counts().to_dict() == {
        "womens_email": 21_387,
        "mens_email": 21_307,
        "control": 21_306,
    }
    assert (campaigns[C.SENT_AT] == pd.Timestamp("2008-03-01")).all()
    visit_rate = campaigns.groupby(C.ARM)[C.VISITED].mean().round(4).to_dict()
    assert visit_rate == {"control": 0.1062, "mens_email": 0.1828, "womens_email": 0.1514}
    customers = pd.read_parquet(ws / "data" / "customers.parquet")
    assert len(customers) == 64_000 and customers[C.MARKETING_CONSENT].all()
    manifest = json.loads((ws / "data" / "manifest.json").read_text())["tables"]
    assert set(manifest["customers"]["extra_columns"]) == {
        "recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie", "channel",
    }  # fmt: skip
    orders = pd.read_parquet(ws / "data" / "orders.parquet")
    assert len(orders) == 64_000 and orders[C.ORDERED_AT].max() < pd.Timestamp("2008-03-01")
    first = customers.set_index(C.CUSTOMER_ID).loc["1"]
    assert first["recency"] == 10 and first["history"] == pytest.approx(142.44)
    assert orders.set_index(C.CUSTOMER_ID).loc["1", C.ORDERED_AT] == pd.Timestamp("2007-05-01")
