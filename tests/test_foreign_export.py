"""A shop export that is not ours, through every command: ingest, features, train all, score.

The export is German-style: semicolons, its own column names, day-first dates, no price column,
and a few broken rows. Customers are generated here with numpy (a buy-till-you-die process and
taste groups), so churn, timing and item affinity are all learnable.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.features.snapshot import MONETARY_COLUMNS
from churnrec.workspace import Workspace

START = date(2023, 7, 1)
N_DAYS = 549  # 2023-07-01 .. 2024-12-31
N_CUSTOMERS = 300
N_GROUPS = 6
ITEMS_PER_GROUP = 10
HEADER = "Kunde;Bestelldatum;Artikel;Menge"
MAPPING = ["customer_id=Kunde", "ordered_at=Bestelldatum", "item_id=Artikel", "quantity=Menge"]

runner = CliRunner()


def foreign_lines(seed: int = 5) -> list[str]:
    """Good export lines, oldest first per customer; no two lines are identical."""
    rng = np.random.default_rng(seed)
    items = [f"ART-{g}{j:02d}" for g in range(N_GROUPS) for j in range(ITEMS_PER_GROUP)]
    zipf = 1.0 / np.arange(1, ITEMS_PER_GROUP + 1)
    zipf /= zipf.sum()
    lines = []
    for i in range(N_CUSTOMERS):
        group = int(rng.integers(N_GROUPS))
        favourite = items[group * ITEMS_PER_GROUP + int(rng.choice(ITEMS_PER_GROUP, p=zipf))]
        mean_gap = float(rng.gamma(2.0, 18.0)) + 5.0
        dropout = float(rng.beta(1.0, 5.0))
        day = int(rng.integers(0, 300))
        while day < N_DAYS:
            ordered = (START + timedelta(days=day)).strftime("%d/%m/%Y")
            basket = {favourite} if rng.random() < 0.5 else set()
            for _ in range(int(rng.integers(1, 4))):
                own = rng.random() < 0.85
                g = group if own else int(rng.integers(N_GROUPS))
                basket.add(items[g * ITEMS_PER_GROUP + int(rng.choice(ITEMS_PER_GROUP, p=zipf))])
            for item in sorted(basket):
                lines.append(f"K{i:04d};{ordered};{item};{int(rng.integers(1, 4))}")
            if rng.random() < dropout:
                break
            day += 1 + int(rng.exponential(mean_gap))
    return lines


BAD_LINES = [
    "K0001;gestern;ART-000;1",  # unparseable_date
    "K0002;32/01/2024;ART-001;1",  # unparseable_date: no 32nd
    ";15/03/2024;ART-002;1",  # no customer: a guest line (item demand only)
]


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    good = foreign_lines()
    assert len(set(good)) == len(good)
    lines = good + BAD_LINES + [good[4], good[10]]  # two exact duplicates of earlier lines
    path = tmp_path_factory.mktemp("export") / "bestellungen.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path, good


@pytest.fixture(scope="module")
def ingested(export, tmp_path_factory: pytest.TempPathFactory):
    path, _ = export
    ws = tmp_path_factory.mktemp("ws")
    args = ["ingest", str(path), "--workspace", str(ws), "--json"]
    for flag in MAPPING:
        args += ["--column", flag]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return Workspace.at(ws), json.loads(result.stdout)


def test_ingest_counts_add_up(ingested, export) -> None:
    _, report = ingested
    _, good = export
    t = report["tables"]["orders"]
    assert t["rows_read"] == len(good) + 5
    assert t["rows_read"] == t["rows_accepted"] + t["rows_guest"] + t["rows_quarantined"]
    assert (t["rows_accepted"], t["rows_new"], t["rows_quarantined"]) == (len(good), len(good), 4)
    assert t["rows_guest"] == 1
    assert t["quarantined_by_reason"] == {"unparseable_date": 2, "duplicate_line": 2}
    assert "no price column: monetary features will be left out" in t["warnings"]


def test_quarantine_names_file_row_and_reason(ingested, export) -> None:
    ws, report = ingested
    path, good = export
    quarantine_file = Path(report["tables"]["orders"]["quarantine_file"])
    assert quarantine_file == ws.quarantine_path(C.ORDERS)
    q = pd.read_csv(quarantine_file, dtype=str)
    n = len(good)
    assert q[C.SOURCE_ROW].astype(int).tolist() == [n + 1, n + 2, n + 4, n + 5]
    assert q[C.REASON].tolist() == [
        "unparseable_date",
        "unparseable_date",
        "duplicate_line",
        "duplicate_line",
    ]
    assert set(q[C.SOURCE_FILE].map(lambda s: Path(s).name)) == {path.name}
    assert q["Bestelldatum"].tolist()[:2] == ["gestern", "32/01/2024"]


def test_ingested_orders_are_canonical(ingested, export) -> None:
    ws, _ = ingested
    _, good = export
    orders = pd.read_parquet(ws.orders_path)
    assert len(orders) == len(good)
    assert orders[C.AMOUNT].isna().all()
    assert orders[C.ITEM_ID].str.startswith("ART-").all()
    assert orders[C.CUSTOMER_ID].str.fullmatch(r"K\d{4}").all()
    first = good[0].split(";")
    row = orders[(orders[C.CUSTOMER_ID] == first[0]) & (orders[C.ITEM_ID] == first[2])].iloc[0]
    assert row[C.ORDERED_AT] == pd.Timestamp(pd.to_datetime(first[1], format="%d/%m/%Y"))
    assert row[C.QUANTITY] == float(first[3])
    assert orders[C.ORDERED_AT].max() <= pd.Timestamp("2024-12-31")
    manifest = ws.read_manifest()["tables"]["orders"]
    assert manifest["has_monetary"] is False and manifest["has_item_ids"] is True


@pytest.fixture(scope="module")
def featured(ingested):
    ws, _ = ingested
    result = runner.invoke(app, ["features", "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    return ws, result


def test_features_leave_monetary_columns_out(featured) -> None:
    ws, result = featured
    snapshot = pd.read_parquet(ws.latest_snapshot_dir() / "customer_snapshot.parquet")
    assert not set(MONETARY_COLUMNS) & set(snapshot.columns)
    assert {"recency_days", "frequency", "r_score", "f_score", C.RFM_SEGMENT} <= set(
        snapshot.columns
    )
    orders = pd.read_parquet(ws.orders_path)
    assert len(snapshot) == orders[C.CUSTOMER_ID].nunique()
    assert "no monetary values" in result.stdout


@pytest.fixture(scope="module")
def trained(featured):
    ws, _ = featured
    result = runner.invoke(
        app, ["train", "all", "--workspace", str(ws.root), "--horizon-days", "60"]
    )
    return ws, result


def test_train_all_trains_all_three(trained) -> None:
    _, result = trained
    assert result.exit_code == 0, result.output
    for kind in ("churn", "repurchase", "recommender"):
        line = next(x for x in result.stdout.splitlines() if x.startswith(kind))
        assert "skipped" not in line, line
        assert f"-> {kind} v1 @champion" in line, line


def test_score_writes_every_customer(trained) -> None:
    ws, trained_result = trained
    assert trained_result.exit_code == 0, trained_result.output
    # No customers file: consent is unknown, which counts as no unless the shop allows it.
    result = runner.invoke(
        app, ["score", "--workspace", str(ws.root)], env={"CHURNREC_CONSENT_DEFAULT": "allow"}
    )
    assert result.exit_code == 0, result.output
    out = ws.outputs_dir / "churn_scores.csv"
    assert "wrote" in result.stdout and str(out) in result.stdout
    scores = pd.read_csv(out, dtype={C.CUSTOMER_ID: str})
    snapshot = pd.read_parquet(ws.latest_snapshot_dir() / "customer_snapshot.parquet")
    assert len(scores) == len(snapshot)  # consent_default allow: unknown consent exported
    assert scores["churn_probability"].between(0, 1).all()
    assert scores["expected_days_to_next_order"].notna().all()
