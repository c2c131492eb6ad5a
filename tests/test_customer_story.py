"""One customer, one story (issue 21, item 1): over every exported row, tier, action, reasons and
timing agree with each other; the report counts the export's tiers; the API answers the row.

Run on the demo shop (the trained workspace the serving tests use) and on the real CDNOW
sample. The invariants:
- never "no action" (nor "healthy") at or above `tiers.at_risk_probability`; a consent veto
  says "consent";
- the served days to the next order are the median of the distribution that gives
  P(order within 7 / 30 / 90 days): under t days exactly when P(t) > 0.5;
- reasons are the features pushing the score up, one sentence each about that feature (its
  own value in it, never the "<feature>: <value>" fallback); none for a low-tier customer
  below the at-risk probability.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.columns import Feature, Score
from churnrec.insights.report.build import build_report
from churnrec.scores.config import ServingConfig
from churnrec.scores.export import score_customers
from churnrec.scores.workspace_scores import score_workspace
from churnrec.workspace import Workspace
from tests.server_process import running_server
from tests.trained_workspace import trained_workspace_copy

API_KEY = "story-key-123"
CONFIG = ServingConfig()
AT_RISK = CONFIG.tiers.at_risk_probability
DAY_FEATURES = (
    Feature.RECENCY_DAYS,
    Feature.GAP_LAST_DAYS,
    Feature.GAP_MEAN_DAYS,
    Feature.DAYS_SINCE_LAST_VISIT,
    Feature.TENURE_DAYS,
)
TIMING = ((Score.P_ORDER_7D, 7), (Score.P_ORDER_30D, 30), (Score.P_ORDER_90D, 90))


def story_problems(rows: pd.DataFrame) -> list[str]:
    """Every broken invariant of exported rows, with up to five customer ids each."""
    problems: list[str] = []

    def check(broken: pd.Series | np.ndarray, what: str) -> None:
        broken = np.asarray(broken, dtype=bool)
        if broken.any():
            ids = rows.loc[broken, C.CUSTOMER_ID].head(5).tolist()
            problems.append(f"{int(broken.sum())} of {len(rows)} rows {what}, e.g. {ids}")

    p = rows[Score.CHURN_PROBABILITY].to_numpy(dtype=float)
    action = rows[Score.ACTION].astype(str)
    text = rows[Score.ACTION_DESCRIPTION].astype(str).str.lower()
    at_risk = p >= AT_RISK
    check(at_risk & (action == "no_action").to_numpy(), f"get 'no action' at P >= {AT_RISK}")
    check(at_risk & text.str.contains("healthy").to_numpy(), "are called healthy at risk")
    check((action == "none") & ~text.str.contains("consent"), "lose marketing without 'consent'")

    days = rows[Score.EXPECTED_DAYS_TO_NEXT_ORDER].to_numpy(dtype=float)
    for column, horizon in TIMING:
        prob = rows[column].to_numpy(dtype=float)
        clear = np.abs(prob - 0.5) > 1e-6  # exactly one half is the median itself
        check(clear & ((days < horizon) != (prob > 0.5)), f"have days against {column}")
    check(
        np.diff(rows[[c for c, _ in TIMING]].to_numpy(float), axis=1).min(axis=1) < -1e-12,
        "have P(order) falling with time",
    )

    words = rows[Score.REASONS].fillna("").astype(str)
    quiet = (rows[Score.RISK_TIER] == "low").to_numpy() & ~at_risk
    check(quiet & (words != "").to_numpy(), "get reasons while low risk and in the low tier")
    for i, row in enumerate(rows.itertuples(index=False)):
        said = [w for w in getattr(row, Score.REASONS, "").split("; ") if w] if words[i] else []
        for n, sentence in enumerate(said, start=1):
            feature = getattr(row, f"reason_{n}_feature")
            value = getattr(row, f"reason_{n}_value")
            pushes = getattr(row, f"reason_{n}_contribution") > 0
            fallback = sentence.startswith(f"{feature.replace('_', ' ')}: ")
            known = pd.notna(value)
            names_value = (
                not known or feature not in DAY_FEATURES or f"{value:.0f} days" in sentence
            )
            raw = "None" in sentence or "nan" in sentence.split()
            if not (pushes and names_value) or fallback or raw:
                problems.append(f"{row.customer_id} reason {n} ({feature}={value}): {sentence!r}")
    return problems


def export(ws: Workspace, out: Path, config: ServingConfig = CONFIG) -> pd.DataFrame:
    score_customers(ws, out=out, config=config)
    frame = pd.read_csv(out, dtype={C.CUSTOMER_ID: str}, keep_default_na=False, na_values=[""])
    frame[Score.REASONS] = frame[Score.REASONS].fillna("")
    return frame


# --- the demo shop -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return trained_workspace_copy(tmp_path_factory, tmp_path_factory.mktemp("story"))


@pytest.fixture(scope="module")
def demo_export(demo: Workspace, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    return export(demo, tmp_path_factory.mktemp("out") / "scores.csv")


def test_every_exported_demo_row_tells_one_story(demo_export: pd.DataFrame) -> None:
    assert len(demo_export) > 300
    assert (demo_export[Score.CHURN_PROBABILITY] >= AT_RISK).any()
    assert story_problems(demo_export) == []


def test_consent_veto_says_consent_never_healthy(demo: Workspace) -> None:
    scores = score_workspace(demo, CONFIG).scores
    vetoed = scores[~scores[Score.CONTACTABLE].astype(bool)]
    at_risk = vetoed[vetoed[Score.CHURN_PROBABILITY] >= AT_RISK]
    assert len(at_risk) and (at_risk[Score.ACTION] == "none").all()
    assert at_risk[Score.ACTION_DESCRIPTION].str.contains("consent").all()


def test_report_counts_the_export_tiers(demo: Workspace, demo_export, tmp_path: Path) -> None:
    json_path = tmp_path / "report.json"
    build_report(demo, out=tmp_path / "report.html", json_path=json_path)
    by_segment = pd.DataFrame(json.loads(json_path.read_text())["churn_by_segment"])
    scores = score_workspace(demo, CONFIG).scores  # every customer; the export keeps contactable
    assert by_segment["high_risk_customers"].sum() == (scores[Score.RISK_TIER] == "high").sum()
    tiers = scores.set_index(C.CUSTOMER_ID)[Score.RISK_TIER]
    exported = demo_export.set_index(C.CUSTOMER_ID)[Score.RISK_TIER]
    assert (tiers.reindex(exported.index) == exported).all()


@pytest.fixture(scope="module")
def api(demo: Workspace) -> Iterator[httpx.Client]:
    with (
        running_server(demo.root, API_KEY) as base,
        httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
        ) as client,
    ):
        yield client


@pytest.mark.slow
def test_api_answers_the_exported_row(api: httpx.Client, demo_export: pd.DataFrame) -> None:
    low_at_risk = demo_export[
        (demo_export[Score.RISK_TIER] == "low") & (demo_export[Score.CHURN_PROBABILITY] >= AT_RISK)
    ]
    rows = pd.concat([demo_export.head(10), low_at_risk.head(10), demo_export.tail(10)])
    ids = rows[C.CUSTOMER_ID].tolist()
    assert api.get("/metadata").json()["tier_cuts"]["at_risk_probability"] == AT_RISK
    scores = api.post("/churn_scores", json={"customer_ids": ids}).json()["scores"]
    timing = api.post("/next_purchase", json={"customer_ids": ids}).json()["predictions"]
    for (_, row), score, when in zip(rows.iterrows(), scores, timing, strict=True):
        assert score["customer_id"] == when["customer_id"] == row[C.CUSTOMER_ID]
        assert score["risk_tier"] == row[Score.RISK_TIER]
        assert score["action"] == row[Score.ACTION]
        assert score["action_description"] == row[Score.ACTION_DESCRIPTION]
        assert "; ".join(score["reasons"]) == row[Score.REASONS]
        assert score["churn_probability"] == pytest.approx(row[Score.CHURN_PROBABILITY])
        for column in (Score.EXPECTED_DAYS_TO_NEXT_ORDER, *(c for c, _ in TIMING)):
            assert when[column] == pytest.approx(row[column], rel=1e-9), column


# --- CDNOW ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_every_exported_cdnow_row_tells_one_story(tmp_path: Path) -> None:
    """CDNOW has no consent column: the shop's `consent_default: allow` exports everyone."""
    ws = str(tmp_path / "ws")
    runner = CliRunner()
    for args in (
        ["ingest", "--sample", "cdnow"],
        ["features"],
        ["train", "churn", "--horizon-days", "181"],
        ["train", "repurchase", "--horizon-days", "181"],
    ):
        result = runner.invoke(app, [*args, "--workspace", ws])
        assert result.exit_code == 0, result.output
    rows = export(Workspace.at(ws), tmp_path / "cdnow.csv", ServingConfig(consent_default="allow"))
    assert len(rows) == 23_570 // 10
    assert story_problems(rows) == []
