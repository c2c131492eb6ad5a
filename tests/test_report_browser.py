"""The report of a fully trained demo shop, opened in headless Chromium: every chart renders,
no request leaves the file, no console errors; and the churn section uses the champion, reads
out the shop's past campaign and shows the drift record a refresh writes."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import find_chromium, inspect_page
from trained_workspace import N_CUSTOMERS, SEED, trained_workspace_copy
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.features.pipeline import SNAPSHOT_FILE
from churnrec.workspace import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("report_trained")
    ws = trained_workspace_copy(tmp_path_factory, root / "ws")
    _add_campaign_and_drift(ws)
    events = pd.read_parquet(ws.table_path(C.EVENTS), columns=[C.CHANNEL, C.OCCURRED_AT])
    months = events[C.OCCURRED_AT].dt.strftime("%Y-%m").unique()[-6:]
    spend = pd.DataFrame(
        [
            (ch, m, 100.0 + 10 * i)
            for i, ch in enumerate(sorted(events[C.CHANNEL].unique()))
            for m in months
        ],
        columns=["channel", "month", "cost"],
    )
    spend.to_csv(root / "spend.csv", index=False)
    out, tables = root / "report.html", root / "report.json"
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--workspace",
            str(ws.root),
            "--out",
            str(out),
            "--json",
            str(tables),
            "--spend",
            str(root / "spend.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    return out, json.loads(tables.read_text())


def _add_campaign_and_drift(ws: Workspace) -> None:
    """The synthetic shop's past campaign, ingested as `churnrec ingest --campaigns` does, and
    the drift record of `churnrec refresh`'s drift step on the current snapshot."""
    from churnrec.ingest import ingest
    from churnrec.synthetic import ShopConfig, generate_shop
    from churnrec.training.drift import DriftThresholds, write_latest
    from churnrec.training.refresh import check_drift

    campaigns = generate_shop(ShopConfig(n_customers=N_CUSTOMERS, seed=SEED)).campaigns
    assert campaigns is not None
    path = ws.root / "shop" / "campaigns.parquet"
    campaigns.to_parquet(path, index=False)
    ingest(ws, None, campaigns=path)
    snapshot = pd.read_parquet(ws.latest_snapshot_dir() / SNAPSHOT_FILE)
    record = check_drift(ws, snapshot, DriftThresholds())
    assert record is not None
    write_latest(ws, record)


def test_campaign_and_drift_parts(built: tuple[Path, dict]) -> None:
    out, doc = built
    (campaign,) = doc["campaigns"]
    assert campaign["control"] == "control" and campaign["derived_outcomes"] == []
    (lift,) = [x for x in campaign["lifts"] if x["outcome"] == C.CONVERTED]
    assert lift["ci_low"] < lift["lift"] < lift["ci_high"]
    assert campaign["takeaway"].startswith("email ") and "(95% CI " in campaign["takeaway"]
    assert doc["drift"]["columns"] and html.escape(doc["drift"]["takeaway"]) in out.read_text()


def test_every_section_has_its_tables(built: tuple[Path, dict]) -> None:
    _, doc = built
    for key in (
        "overview",
        "segments",
        "lifecycle",
        "clusters",
        "cohorts",
        "funnel",
        "funnel_by_platform",
        "funnel_by_channel",
        "channels",
        "attribution",
        "spend_roi",
        "churn_by_segment",
        "churn_reasons",
        "champion_metrics",
    ):
        assert doc[key], key
    assert 2 <= doc["clusters"][0]["k"] <= 6
    models = {r["model"] for r in doc["attribution"]}
    assert models == {
        "first_touch",
        "last_touch",
        "linear",
        "time_decay",
        "position_based",
        "markov",
    }
    auc = next(r for r in doc["champion_metrics"] if r["metric"] == "roc_auc")
    assert {"champion", "recency"} <= set(auc)  # the champion next to its baselines
    sizes = [r["sessions"] for r in doc["funnel"]]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] > 0


def test_report_renders_offline_in_chromium(built: tuple[Path, dict], tmp_path: Path) -> None:
    if find_chromium() is None:
        if os.environ.get("CHURNREC_REQUIRE_CHROMIUM"):
            pytest.fail("CHURNREC_REQUIRE_CHROMIUM is set but chromium is not on PATH")
        pytest.skip("chromium is not installed (`make chromium` installs it as root)")
    out, doc = built
    page = inspect_page(out, tmp_path / "report.png")
    assert page.console_errors == []
    page_url = out.resolve().as_uri()
    assert [u for u in page.requests if u != page_url and not u.startswith("data:")] == []
    n_charts = sum(len(v) for v in doc["meta"]["takeaways"].values())
    assert len(page.images) == out.read_text().count("<img ") >= 10
    assert n_charts >= len(page.images)
    for image in page.images:
        assert image["complete"] and image["width"] > 0 and image["height"] > 0, image
    from PIL import Image

    with Image.open(page.screenshot) as shot:
        assert shot.width == 1280 and shot.height > 4000
        pixels = np.asarray(shot.convert("L"), dtype=float)
    assert pixels.std() > 10  # not a blank page
