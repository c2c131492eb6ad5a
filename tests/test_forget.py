"""The right to erasure end to end: one customer through ingest, quarantine, snapshot, training,
serving with live events and exports; `churnrec forget`; then the id is in no file of the
workspace (raw bytes, and every table read back) and in no served answer; an old export does
not bring them back, a new consent does."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.ingest import IngestError, ingest
from churnrec.ingest.tombstones import read_tombstones
from churnrec.store.registry import Tag, list_versions
from churnrec.workspace import Workspace
from tests.server_process import running_server

pytestmark = pytest.mark.slow
API_KEY = "forget-key-31"


def _shop(folder: Path) -> dict[str, Path]:
    from churnrec.synthetic import ShopConfig, generate_shop, write_shop

    return write_shop(generate_shop(ShopConfig(n_customers=300, seed=11)), folder, "csv")


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _files_mentioning(root: Path, cid: str) -> list[str]:
    """Every file under `root` whose bytes hold the id, or whose table holds it when read."""
    needle = cid.encode()
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        hit = needle in data
        if path.suffix == ".parquet":
            table = pd.read_parquet(path)
            hit = hit or table.astype("string").eq(cid).any().any()
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                hit = hit or any(
                    z[k].dtype.kind in "US" and (z[k].astype(str) == cid).any() for k in z.files
                )
        if hit:
            found.append(str(path.relative_to(root)))
    return found


def _without_id(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer without what names the request (the customer, the answer's own random id)."""
    return {k: v for k, v in answer.items() if k not in ("customer_id", "recommendation_id")}


def test_a_forgotten_customer_is_in_no_file_and_no_served_answer(tmp_path: Path) -> None:
    from churnrec.features.pipeline import run_features
    from churnrec.training.jobs import train_models

    export = _shop(tmp_path / "export")  # the shop's own files: outside the workspace
    ws = Workspace.at(tmp_path / "ws")
    ingest(ws, export["orders"], customers=export["customers"], events=export["events"])
    orders = pd.read_parquet(ws.orders_path)
    gone, kept = (str(c) for c in orders[C.CUSTOMER_ID].value_counts().index[:2])
    customers = pd.read_parquet(ws.table_path(C.CUSTOMERS)).set_index(C.CUSTOMER_ID)
    assert customers.loc[gone, C.MARKETING_CONSENT]  # the old export says yes
    # a rejected line of theirs: the quarantine keeps the raw row
    bad = tmp_path / "late.csv"
    bad.write_text(f"customer_id,ordered_at,item_id,amount\n{gone},not a date,I00001,5\n")
    with pytest.raises(IngestError):  # all rejected: stored nothing but the quarantine row
        ingest(ws, bad)
    assert gone in ws.quarantine_path(C.ORDERS).read_text()
    run_features(ws)
    train_models(ws, target="recommender")
    train_models(ws, target="churn")
    _cli("score", "--workspace", str(ws.root))
    _cli("score", "--workspace", str(ws.root), "--out", str(ws.root / "mine" / "scores.parquet"))
    _cli("recommend", "--workspace", str(ws.root), "--out", str(ws.outputs_dir / "recs.parquet"))
    assert _files_mentioning(ws.root, gone)  # the search finds it before

    with running_server(ws.root, API_KEY, "--reload-seconds", "1") as base:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:

            def rec(cid: str) -> dict[str, Any]:
                return client.post("/recommendations", json={"customer_id": cid, "k": 10}).json()

            def churn(cid: str) -> dict[str, Any]:
                body = client.post("/churn_scores", json={"customer_ids": [cid]}).json()
                return body["scores"][0]

            event = {"item_id": "I00002", "event_type": "purchase"}
            for cid in (gone, kept):
                assert client.post("/events", json={"customer_id": cid, **event}).status_code == 200
            assert rec(gone)["known_customer"] and churn(gone)["known"]

            output = _cli("forget", gone, "--workspace", str(ws.root))
            assert gone not in output and "recommender v1" in output

            deadline = time.time() + 60  # the reload watch notices the rewritten files
            while rec(gone)["known_customer"] and time.time() < deadline:
                time.sleep(0.5)
            nobody = "never-seen-42"
            assert _without_id(rec(gone)) == _without_id(rec(nobody))
            assert _without_id(churn(gone)) == _without_id(churn(nobody))
            assert not churn(gone)["known"]
            # others keep everything, live events included, and new events still land
            assert rec(kept)["known_customer"] and churn(kept)["known"]
            after = {"customer_id": kept, "item_id": "I00003", "event_type": "add_to_cart"}
            assert client.post("/events", json=after).json()["cart_size"] == 1

    assert _files_mentioning(ws.root, gone) == []
    live_log = (ws.data_dir / "live_events" / "events.csv").read_text()
    assert live_log.count(kept) == 2 and gone not in live_log
    for version in list_versions(ws, "recommender"):
        assert Tag.ERASED_AT in version.tags

    # the old export again: the customer stays erased
    ingest(ws, export["orders"], customers=export["customers"], events=export["events"])
    for kind in (C.ORDERS, C.CUSTOMERS, C.EVENTS):
        assert gone not in set(pd.read_parquet(ws.table_path(kind))[C.CUSTOMER_ID])
    assert _files_mentioning(ws.root, gone) == []

    # they come back: signed up again, consent yes
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    back = tmp_path / "back.csv"
    back.write_text(f"customer_id,signed_up_at,marketing_consent\n{gone},{now},yes\n")
    ingest(ws, None, customers=back)
    assert gone in set(pd.read_parquet(ws.table_path(C.CUSTOMERS))[C.CUSTOMER_ID])
    assert read_tombstones(ws) == {}
    assert json.loads((ws.data_dir / "tombstones.json").read_text()) == {}
